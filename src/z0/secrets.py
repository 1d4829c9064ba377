"""Secrets at rest: AES-256-GCM under a master key, bound to the script and name they belong to.

The master key is 32 random bytes, from `Z0_MASTER_KEY` (base64) or the key file `master.key` in the
data directory, made on first use with mode 0600. Each ciphertext records the id of the key that
sealed it (the key's SHA-256, shortened), so a wrong key is a clear error, not garbage; its
associated data is the secret's place (namespace, script, name), so ciphertexts cannot be swapped
between scripts in the database. Values are never logged and never returned by any API.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_FILE",
    "NEXT_KEY_FILE",
    "MasterKey",
    "SecretBox",
    "SecretsError",
    "load_master_key",
    "new_master_key",
    "rotate_master_key",
]

KEY_FILE = "master.key"
NEXT_KEY_FILE = "master.key.next"  # a rotation under way: both keys open secrets until it ends


class SecretsError(Exception):
    """A secret cannot be opened: another master key sealed it, or it was tampered with."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise SecretsError("The master key must be 32 bytes (base64 of 32 random bytes).")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"z0 master key id\0" + self.key).hexdigest()[:16]

    def encoded(self) -> str:
        return base64.b64encode(self.key).decode()

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id})"


def new_master_key() -> MasterKey:
    return MasterKey(random.token_bytes(32))


def parse_master_key(encoded: str) -> MasterKey:
    try:
        return MasterKey(base64.b64decode(encoded.strip(), validate=True))
    except ValueError:
        raise SecretsError("The master key is not valid base64.") from None


def load_master_key(data_dir: Path, from_environment: str | None = None) -> MasterKey:
    """The key from the environment's value if given, else the data directory's key file (made now
    if there is none)."""
    if from_environment:
        return parse_master_key(from_environment)
    path = data_dir / KEY_FILE
    if path.exists():
        return parse_master_key(path.read_text())
    key = new_master_key()
    write_key_file(path, key)
    return key


def write_key_file(path: Path, key: MasterKey) -> None:
    """Writes the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key.encoded() + "\n")
    os.replace(temporary, path)


class SecretBox:
    """Seals with the master key; opens with whichever known key sealed a secret. `reload` (reading
    the key files again) is tried once for a key it does not know, so that running processes follow
    a rotation made by `z0 secrets rotate-master-key`."""

    def __init__(
        self, key: MasterKey, *others: MasterKey, reload: Callable[[], list[MasterKey]] | None = None
    ) -> None:
        self.key = key
        self._keys = {k.key_id: AESGCM(k.key) for k in (key, *others)}
        self._reload = reload
        self._key_file: Path | None = None
        self._key_file_seen = 0

    @classmethod
    def for_data_dir(cls, data_dir: Path, from_environment: str | None = None) -> SecretBox:
        def keys() -> list[MasterKey]:
            found = [load_master_key(data_dir, from_environment)]
            for name in (KEY_FILE, NEXT_KEY_FILE):
                path = data_dir / name
                if path.exists():
                    found.append(parse_master_key(path.read_text()))
            return found

        first, *others = keys()
        box = cls(first, *others, reload=keys)
        if from_environment is None:
            box._key_file = data_dir / KEY_FILE
            box._key_file_seen = box._key_file.stat().st_mtime_ns
        return box

    def seal(self, plaintext: str, place: tuple[str, str, str]) -> tuple[bytes, bytes, str]:
        """(nonce, ciphertext, key id) of a secret value at (namespace id, script, name), under the
        current master key (re-read first when the key file changed: a rotation happened)."""
        self._follow_rotation()
        nonce = random.token_bytes(12)
        aead = self._keys[self.key.key_id]
        return nonce, aead.encrypt(nonce, plaintext.encode("utf-8"), _aad(place)), self.key.key_id

    def _follow_rotation(self) -> None:
        if self._reload is None or self._key_file is None:
            return
        try:
            changed = self._key_file.stat().st_mtime_ns
        except OSError:
            return
        if changed != self._key_file_seen:
            keys = self._reload()
            self._keys.update({k.key_id: AESGCM(k.key) for k in keys})
            self.key = keys[0]
            self._key_file_seen = changed

    def open(self, nonce: bytes, ciphertext: bytes, key_id: str, place: tuple[str, str, str]) -> str:
        aead = self._keys.get(key_id)
        if aead is None and self._reload is not None:
            keys = self._reload()
            self._keys.update({k.key_id: AESGCM(k.key) for k in keys})
            self.key = keys[0]
            aead = self._keys.get(key_id)
        if aead is None:
            raise SecretsError(
                f"Secret {place[2]!r} of {place[1]!r} was sealed with master key {key_id}, which z0 does not "
                "have: set Z0_MASTER_KEY (or the data directory's master.key) to the key z0 was using."
            )
        try:
            return aead.decrypt(nonce, ciphertext, _aad(place)).decode("utf-8")
        except InvalidTag:
            raise SecretsError(
                f"Secret {place[2]!r} of {place[1]!r} does not open: it was tampered with."
            ) from None


def rotate_master_key(
    data_dir: Path, from_environment: str | None, reseal_all: Callable[[SecretBox, SecretBox], int]
) -> tuple[MasterKey, int]:
    """Makes a new master key and re-encrypts every secret with it. The new key is written beside the
    old one first (a crash leaves both usable), the secrets are resealed in one transaction, then the
    new key becomes the key file. Returns the new key and how many secrets moved."""
    old = SecretBox.for_data_dir(data_dir, from_environment)
    new = new_master_key()
    write_key_file(data_dir / NEXT_KEY_FILE, new)
    count = reseal_all(old, SecretBox(new))
    os.replace(data_dir / NEXT_KEY_FILE, data_dir / KEY_FILE)
    return new, count


def _aad(place: tuple[str, str, str]) -> bytes:
    return "\0".join(("z0 secret", *place)).encode()
