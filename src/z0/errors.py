"""z0's errors, one tree; the edges translate them (the control API into Cloudflare v4 `errors[]`).

    Z0Error
    ├── InvalidRequest            400  the request is malformed or breaks a rule
    │   ├── InvalidName                a namespace, script, tenant or tag name breaks its pattern
    │   ├── InvalidMetadata            the upload's `metadata` part is missing or wrong
    │   ├── InvalidModule              a module is missing, of a refused type, or does not parse
    │   └── OwnershipMismatch          the `tenant_id:` tag and the script name name different tenants
    ├── Unauthenticated           401  no API token, or one that is wrong or revoked
    ├── Forbidden                 403  the token may not touch this resource
    ├── NotFound                  404
    │   ├── NamespaceNotFound
    │   ├── ScriptNotFound
    │   ├── TenantNotFound
    │   ├── KeyNotFound
    │   └── TokenNotFound
    ├── Conflict                  409  the resource already exists
    └── PayloadTooLarge           413  the upload is over the size limit

Each class carries the HTTP status and a Cloudflare-style numeric `code` so that a v4 client sees
the same shape it would from Cloudflare.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidMetadata",
    "InvalidModule",
    "InvalidName",
    "InvalidRequest",
    "KeyNotFound",
    "NamespaceNotFound",
    "NotFound",
    "OwnershipMismatch",
    "PayloadTooLarge",
    "ScriptNotFound",
    "TenantNotFound",
    "TokenNotFound",
    "Unauthenticated",
    "Z0Error",
]


class Z0Error(Exception):
    """Base of every error z0 raises on purpose."""

    status: int = 500
    code: int = 10000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(Z0Error):
    status = 400
    code = 10001


class InvalidName(InvalidRequest):
    code = 10016


class InvalidMetadata(InvalidRequest):
    code = 10021


class InvalidModule(InvalidRequest):
    code = 10021


class OwnershipMismatch(InvalidRequest):
    code = 10022


class Unauthenticated(Z0Error):
    status = 401
    code = 10000


class Forbidden(Z0Error):
    status = 403
    code = 9109


class NotFound(Z0Error):
    status = 404
    code = 10004


class NamespaceNotFound(NotFound):
    code = 100119


class ScriptNotFound(NotFound):
    code = 10007


class TenantNotFound(NotFound):
    code = 10404


class KeyNotFound(NotFound):
    code = 10405


class TokenNotFound(NotFound):
    code = 1003


class Conflict(Z0Error):
    status = 409
    code = 10026


class PayloadTooLarge(Z0Error):
    status = 413
    code = 10027
