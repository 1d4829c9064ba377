"""The registry: one object over one database, grouping the stores."""

from __future__ import annotations

from sqlalchemy import Engine

from z0.registry._credentials import CredentialStore
from z0.registry._db import Database, create_registry_engine, migrate
from z0.registry._namespaces import NamespaceStore
from z0.registry._resources import ResourceStore
from z0.registry._scripts import ScriptStore
from z0.registry._secrets import SecretStore
from z0.registry._tenants import TenantStore

__all__ = ["Registry"]


class Registry:
    """Namespaces, scripts and versions, tenants, keys and tokens, behind one interface.

    The same code runs on SQLite (the embedded default) and PostgreSQL; `open` applies migrations.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = Database(engine)
        self.namespaces = NamespaceStore(self.db)
        self.scripts = ScriptStore(self.db)
        self.tenants = TenantStore(self.db)
        self.credentials = CredentialStore(self.db)
        self.kv = ResourceStore(self.db, "kv")
        self.d1 = ResourceStore(self.db, "d1")
        self.secrets = SecretStore(self.db)

    @classmethod
    def open(cls, url: str) -> Registry:
        engine = create_registry_engine(url)
        migrate(engine)
        return cls(engine)

    def change_counter(self) -> int:
        """Bumped by every write: a reader that saw the same number has seen every change."""
        return self.db.change_counter()

    def close(self) -> None:
        self.engine.dispose()
