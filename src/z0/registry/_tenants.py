"""Tenants: id, account, status and limits. Deleting one is a soft delete; its records stay."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import String, delete, insert, select, type_coerce, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from z0.errors import Conflict, InvalidRequest, NotFound, TenantNotFound
from z0.names import validate_hostname, validate_tenant_id
from z0.registry._db import Database, utcnow
from z0.registry._records import Tenant, TenantLimits, TenantStatus
from z0.registry._tables import tenant_hostnames, tenant_keys, tenants

__all__ = ["TenantStore", "tenant_row"]


class TenantStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # The last `states()`: each tenant with the row values it was built from.
        self._states: dict[str, tuple[tuple[Any, ...], Tenant]] = {}

    def create(
        self,
        tenant_id: str,
        *,
        account_id: str | None = None,
        status: TenantStatus = TenantStatus.ACTIVE,
        limits: TenantLimits | None = None,
    ) -> Tenant:
        validate_tenant_id(tenant_id)
        if status is TenantStatus.DELETED:
            raise InvalidRequest("A tenant is created active or suspended, not deleted.")
        now = utcnow()
        tenant = Tenant(
            id=tenant_id,
            account_id=account_id or f"acct_{tenant_id}",
            status=status,
            limits=limits or TenantLimits(),
            created_on=now,
            modified_on=now,
        )
        try:
            with self._db.write() as connection:
                connection.execute(
                    insert(tenants).values(
                        id=tenant.id,
                        account_id=tenant.account_id,
                        status=tenant.status.value,
                        limits_json=json.dumps(tenant.limits.as_dict()),
                        created_on=now,
                        modified_on=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"Tenant {tenant_id!r} already exists (deleted tenants keep their id).") from exc
        return tenant

    def get(self, tenant_id: str) -> Tenant:
        with self._db.read() as connection:
            return _tenant(tenant_row(connection, tenant_id))

    def list(self, *, status: TenantStatus | None = None) -> list[Tenant]:
        query = select(tenants).order_by(tenants.c.id)
        if status is None:
            query = query.where(tenants.c.status != TenantStatus.DELETED.value)
        else:
            query = query.where(tenants.c.status == status.value)
        with self._db.read() as connection:
            return [_tenant(row) for row in connection.execute(query).mappings()]

    def update(
        self,
        tenant_id: str,
        *,
        status: TenantStatus | None = None,
        limits: Mapping[str, int | None] | None = None,
    ) -> Tenant:
        """Sets the status (active or suspended) and/or the limits given; other limits stay."""
        if status is TenantStatus.DELETED:
            raise InvalidRequest("Delete a tenant with DELETE, not by setting its status.")
        with self._db.write() as connection:
            row = tenant_row(connection, tenant_id, for_update=True)
            if row["status"] == TenantStatus.DELETED.value:
                raise Conflict(f"Tenant {tenant_id!r} is deleted and cannot be changed.")
            values: dict[str, Any] = {"modified_on": utcnow()}
            if status is not None:
                values["status"] = status.value
            if limits is not None:
                merged = {**json.loads(row["limits_json"]), **limits}
                values["limits_json"] = json.dumps(TenantLimits(**merged).as_dict())
            connection.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))
            return _tenant(tenant_row(connection, tenant_id))

    def states(self) -> dict[str, Tenant]:
        """Every tenant, deleted ones too, by id (the gateway's view, rebuilt after every registry change).
        A tenant whose row is unchanged since the last call is the same object, and only changed rows
        are read whole: building every tenant again was most of a rebuild (~120 of 150 ms at 10,000)."""
        # Every field of a Tenant but created_on (which never changes); modified_on as the database
        # returns it, a change marker only (not worth a datetime per row).
        marker = type_coerce(tenants.c.modified_on, String).label("marker")
        columns = (tenants.c.id, tenants.c.account_id, tenants.c.status, tenants.c.limits_json, marker)
        previous = self._states
        current: dict[str, tuple[tuple[Any, ...], Tenant]] = {}
        changed: dict[str, tuple[Any, ...]] = {}
        with self._db.read() as connection:
            for row in connection.execute(select(*columns)):
                values = tuple(row)
                known = previous.get(row.id)
                if known is not None and known[0] == values:
                    current[row.id] = known
                else:
                    changed[row.id] = values
            ids = list(changed)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for full in connection.execute(select(tenants).where(tenants.c.id.in_(chunk))).mappings():
                    current[full["id"]] = (changed[full["id"]], _tenant(full))
        self._states = current
        return {tenant_id: tenant for tenant_id, (_, tenant) in current.items()}

    def add_hostname(self, tenant_id: str, hostname: str) -> str:
        hostname = validate_hostname(hostname)
        with self._db.write() as connection:
            row = tenant_row(connection, tenant_id)
            if row["status"] == TenantStatus.DELETED.value:
                raise Conflict(f"Tenant {tenant_id!r} is deleted.")
            owner = connection.execute(
                select(tenant_hostnames.c.tenant_id).where(tenant_hostnames.c.hostname == hostname)
            ).scalar()
            if owner is not None and owner != tenant_id:
                raise Conflict(f"Hostname {hostname!r} already belongs to another tenant.")
            if owner is None:
                connection.execute(
                    insert(tenant_hostnames).values(
                        hostname=hostname, tenant_id=tenant_id, created_on=utcnow()
                    )
                )
        return hostname

    def remove_hostname(self, tenant_id: str, hostname: str) -> None:
        with self._db.write() as connection:
            result = connection.execute(
                delete(tenant_hostnames).where(
                    tenant_hostnames.c.hostname == hostname.strip().lower().rstrip("."),
                    tenant_hostnames.c.tenant_id == tenant_id,
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"Tenant {tenant_id!r} has no hostname {hostname!r}.")

    def hostnames(self, tenant_id: str | None = None) -> dict[str, str]:
        """Custom hostname → tenant id (of one tenant, or all)."""
        query = select(tenant_hostnames.c.hostname, tenant_hostnames.c.tenant_id).order_by(
            tenant_hostnames.c.hostname
        )
        if tenant_id is not None:
            query = query.where(tenant_hostnames.c.tenant_id == tenant_id)
        with self._db.read() as connection:
            if tenant_id is not None:
                tenant_row(connection, tenant_id)
            return {hostname: owner for hostname, owner in connection.execute(query)}

    def delete(self, tenant_id: str) -> Tenant:
        """Soft delete: the tenant stays, marked deleted; its gateway keys and hostnames go."""
        now = utcnow()
        with self._db.write() as connection:
            tenant_row(connection, tenant_id, for_update=True)
            connection.execute(
                update(tenants)
                .where(tenants.c.id == tenant_id)
                .values(status=TenantStatus.DELETED.value, modified_on=now)
            )
            connection.execute(
                update(tenant_keys)
                .where(tenant_keys.c.tenant_id == tenant_id, tenant_keys.c.revoked_on.is_(None))
                .values(revoked_on=now)
            )
            connection.execute(delete(tenant_hostnames).where(tenant_hostnames.c.tenant_id == tenant_id))
            return _tenant(tenant_row(connection, tenant_id))


def tenant_row(connection: Connection, tenant_id: str, *, for_update: bool = False) -> RowMapping:
    query = select(tenants).where(tenants.c.id == tenant_id)
    if for_update:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    if row is None:
        raise TenantNotFound(f"Tenant {tenant_id!r} was not found.")
    return row


def _tenant(row: RowMapping) -> Tenant:
    return Tenant(
        id=row["id"],
        account_id=row["account_id"],
        status=TenantStatus(row["status"]),
        limits=TenantLimits(**json.loads(row["limits_json"])),
        created_on=row["created_on"],
        modified_on=row["modified_on"],
    )
