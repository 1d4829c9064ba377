"""crypto.subtle for workers (web/subtle.js), computed here with `cryptography`.

Contract (web/subtle.js ⇄ host); bytes travel in base64, keys as opaque handles:

    subtle.digest      {alg, data}                                             -> bytes
    subtle.importKey   {format, keyData (bytes | JWK), alg, extractable, usages} -> keys
    subtle.generateKey {alg, extractable, usages}                              -> keys
    subtle.exportKey   {format, key}                                           -> bytes | JWK (JSON text)
    subtle.sign        {alg, key, data}                                        -> bytes
    subtle.verify      {alg, key, signature, data}                             -> true | false
    subtle.encrypt     {alg, key, data}                                        -> bytes
    subtle.decrypt     {alg, key, data}                                        -> bytes

`alg` is the tenant's algorithm with its name as given, `hash` as a name, `iv` and `additionalData` in
base64. `keys` is JSON text of a list of [view, handle] pairs (one key, or the public and private key
of a pair): the view is what CryptoKey shows, the handle is JSON text of the key with its material,
which subtle.js keeps in a private field and sends back with every op that uses the key.

Results that hold key material are strings, never objects: resolving a promise with an object reads
its `then`, which tenant code can hook. A failure the spec names comes back as a value,
{"error": name, "message": text}, which subtle.js throws as that DOMException (or TypeError).

Algorithms: SHA-1/256/384/512 digests; HMAC (raw, jwk); AES-GCM with 128/192/256-bit keys (raw, jwk);
Ed25519 and the older NODE-ED25519 (raw and spki public keys, pkcs8 private keys, jwk).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac as std_hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from z0.bindings._router import Handler, HostOpRouter, OpContext
from z0.registry import Registry
from z0.settings import Settings

__all__ = ["SubtleError", "register"]

# Inputs over this many base64 characters are worked on in a thread, off the gateway's event loop
# (`cryptography` releases the GIL while it hashes and encrypts).
THREAD_OVER = 1 << 20

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA-1": hashes.SHA1,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}
HMAC_JWK_ALG = {"SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512"}
ED25519 = ("Ed25519", "NODE-ED25519")
KEY_ALGORITHMS = ("HMAC", "AES-GCM", *ED25519)
ALGORITHMS = {
    "digest": tuple(HASHES),
    "sign": ("HMAC", *ED25519),
    "verify": ("HMAC", *ED25519),
    "encrypt": ("AES-GCM",),
    "decrypt": ("AES-GCM",),
    "importKey": KEY_ALGORITHMS,
    "generateKey": KEY_ALGORITHMS,
}
USAGES = ("encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey")
ALLOWED_USAGES = {
    "HMAC": {"sign", "verify"},
    "AES-GCM": {"encrypt", "decrypt", "wrapKey", "unwrapKey"},
}
FORMATS = ("raw", "spki", "pkcs8", "jwk")
AES_KEY_BITS = (128, 192, 256)
GCM_TAG_BITS = (32, 64, 96, 104, 112, 120, 128)
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class SubtleError(Exception):
    """A failure the Web Crypto spec names: a DOMException name, or TypeError."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _fail(name: str, message: str) -> NoReturn:
    raise SubtleError(name, message)


@dataclass(frozen=True, slots=True)
class Key:
    type: str  # "secret", "public" or "private"
    extractable: bool
    algorithm: dict[str, Any]
    usages: tuple[str, ...]
    material: bytes  # secret bytes, or the raw 32-byte Ed25519 public key or private seed

    @property
    def name(self) -> str:
        return str(self.algorithm["name"])

    def view(self) -> dict[str, Any]:
        """What CryptoKey shows: everything but the material."""
        return {
            "type": self.type,
            "extractable": self.extractable,
            "algorithm": self.algorithm,
            "usages": list(self.usages),
        }

    def handle(self) -> str:
        return json.dumps({**self.view(), "k": _b64(self.material)})

    @classmethod
    def from_handle(cls, handle: object) -> Key:
        try:
            record = json.loads(handle) if isinstance(handle, str) else {}
            return cls(
                record["type"],
                record["extractable"],
                record["algorithm"],
                tuple(record["usages"]),
                base64.b64decode(record["k"], validate=True),
            )
        except (TypeError, KeyError, ValueError):
            _fail("TypeError", "The key is not a CryptoKey.")


def _keys_text(keys: Iterable[Key]) -> str:
    return json.dumps([[key.view(), key.handle()] for key in keys])


# Arguments


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(value: object, what: str) -> bytes:
    try:
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
    except binascii.Error:
        pass
    _fail("TypeError", f"{what} is not a BufferSource.")


def _b64url(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        _fail("DataError", f"The JWK member '{what}' is missing or not a string.")
    if BASE64URL.fullmatch(value) is None:
        _fail("DataError", f"The JWK member '{what}' is not valid base64url.")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _to_b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _canonical(name: object, known: Iterable[str], what: str) -> str:
    if not isinstance(name, str):
        _fail("TypeError", f"{what} needs a name.")
    for candidate in known:
        if candidate.lower() == name.lower():
            return candidate
    _fail("NotSupportedError", f"Unrecognized or unimplemented {what}: {name!r}.")


def _normalize(alg: object, op: str) -> dict[str, Any]:
    if not isinstance(alg, dict):
        _fail("TypeError", "The algorithm must be a string or an object with a name.")
    return {**alg, "name": _canonical(alg.get("name"), ALGORITHMS[op], f"algorithm for {op}")}


def _hash_of(alg: dict[str, Any]) -> str:
    if alg.get("hash") is None:
        _fail("TypeError", f"{alg['name']} needs a hash.")
    return _canonical(alg["hash"], HASHES, "hash")


def _integer(alg: dict[str, Any], member: str, default: int | None = None) -> int | None:
    value = alg.get(member)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
        _fail("TypeError", f"The algorithm's {member} must be a non-negative integer.")
    return int(value)


def _usages(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(usage, str) for usage in value):
        _fail("TypeError", "Key usages must be a list of strings.")
    for usage in value:
        if usage not in USAGES:
            _fail("TypeError", f"{usage!r} is not a valid key usage.")
    return tuple(usage for usage in USAGES if usage in value)


def _check_usages(usages: tuple[str, ...], allowed: set[str], name: str) -> None:
    extra = set(usages) - allowed
    if extra:
        _fail("SyntaxError", f"A {name} key cannot be used to {', '.join(sorted(extra))}.")


def _keyed(args: dict[str, Any], op: str, usage: str) -> tuple[dict[str, Any], Key]:
    """The op's algorithm and key, after the spec's checks that they go together."""
    alg = _normalize(args.get("alg"), op)
    key = Key.from_handle(args.get("key"))
    if key.name != alg["name"]:
        _fail(
            "InvalidAccessError",
            f"The requested algorithm {alg['name']} does not match the key's ({key.name}).",
        )
    if usage not in key.usages:
        _fail(
            "InvalidAccessError",
            f"This key cannot be used to {usage} (its usages: {', '.join(key.usages) or 'none'}).",
        )
    return alg, key


# HMAC


def _hmac(key: Key, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key.material, HASHES[key.algorithm["hash"]["name"]]())
    mac.update(data)
    return mac.finalize()


def _hmac_key(material: bytes, alg: dict[str, Any], extractable: bool, usages: tuple[str, ...]) -> Key:
    bits = len(material) * 8
    length = _integer(alg, "length", bits)
    if bits == 0 or length == 0:
        _fail("DataError", "HMAC keys cannot be empty.")
    if length is None or length > bits or length <= bits - 8:
        _fail("DataError", f"The HMAC length ({length}) does not match the key data ({bits} bits).")
    algorithm = {"name": "HMAC", "hash": {"name": _hash_of(alg)}, "length": length}
    return Key("secret", extractable, algorithm, usages, material)


def _hmac_block_bits(hash_name: str) -> int:
    return 512 if hash_name in ("SHA-1", "SHA-256") else 1024


# AES-GCM


def _aes_key(material: bytes, extractable: bool, usages: tuple[str, ...]) -> Key:
    if len(material) * 8 not in AES_KEY_BITS:
        _fail("DataError", f"AES keys are 128, 192 or 256 bits, not {len(material) * 8}.")
    return Key("secret", extractable, {"name": "AES-GCM", "length": len(material) * 8}, usages, material)


def _gcm(alg: dict[str, Any]) -> tuple[bytes, bytes | None, int]:
    if alg.get("iv") is None:
        _fail("TypeError", "AES-GCM needs an iv.")
    iv = _bytes(alg["iv"], "iv")
    if not 8 <= len(iv) <= 128:
        _fail("OperationError", "z0's AES-GCM takes ivs of 8 to 128 bytes (12 is the usual).")
    aad = _bytes(alg["additionalData"], "additionalData") if alg.get("additionalData") is not None else None
    tag_bits = _integer(alg, "tagLength", 128)
    if tag_bits not in GCM_TAG_BITS:
        _fail("OperationError", f"{tag_bits} is not a valid AES-GCM tag length.")
    return iv, aad, tag_bits // 8


def _aes_encrypt(alg: dict[str, Any], key: Key, data: bytes) -> bytes:
    iv, aad, tag_bytes = _gcm(alg)
    encryptor = Cipher(algorithms.AES(key.material), modes.GCM(iv)).encryptor()
    if aad is not None:
        encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag[:tag_bytes]


def _aes_decrypt(alg: dict[str, Any], key: Key, data: bytes) -> bytes:
    iv, aad, tag_bytes = _gcm(alg)
    if len(data) < tag_bytes:
        _fail("OperationError", "The data is shorter than the AES-GCM tag.")
    body, tag = data[: len(data) - tag_bytes], data[len(data) - tag_bytes :]
    decryptor = Cipher(algorithms.AES(key.material), modes.GCM(iv, tag, min_tag_length=4)).decryptor()
    if aad is not None:
        decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        _fail("OperationError", "The AES-GCM data failed authentication (wrong key, iv, data or tag).")


# Ed25519


def _ed_algorithm(name: str, alg: dict[str, Any]) -> dict[str, Any]:
    if name == "Ed25519":
        return {"name": name}
    if alg.get("namedCurve") != "NODE-ED25519":
        _fail("NotSupportedError", "NODE-ED25519 needs namedCurve 'NODE-ED25519'.")
    return {"name": name, "namedCurve": "NODE-ED25519"}


def _ed_public(material: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(material)
    except ValueError:
        _fail("DataError", "An Ed25519 public key is 32 bytes.")


def _ed_private(material: bytes) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(material)
    except ValueError:
        _fail("DataError", "An Ed25519 private key is 32 bytes.")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _ed_der(fmt: str, data: bytes) -> tuple[str, bytes]:
    try:
        if fmt == "spki":
            public = serialization.load_der_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return "public", _raw_public(public)
        else:
            private = serialization.load_der_private_key(data, None)
            if isinstance(private, Ed25519PrivateKey):
                return "private", _raw_private(private)
    except (ValueError, TypeError):
        pass
    _fail("DataError", f"The {fmt} data is not an Ed25519 key.")


def _ed_verify(key: Key, signature: bytes, data: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        _ed_public(key.material).verify(signature, data)
    except InvalidSignature:
        return False
    return True


# JWK


def _jwk_checks(jwk: dict[str, Any], kty: str, use: str, extractable: bool, usages: tuple[str, ...]) -> None:
    """The members every JWK import checks the same way."""
    if jwk.get("kty") != kty:
        _fail("DataError", f"The JWK's kty must be {kty!r}.")
    if usages and jwk.get("use") is not None and jwk["use"] != use:
        _fail("DataError", f"The JWK's use must be {use!r}.")
    ops = jwk.get("key_ops")
    if ops is not None and (len(set(ops)) != len(ops) or not set(usages) <= set(ops)):
        _fail("DataError", "The JWK's key_ops do not allow the requested usages.")
    if jwk.get("ext") is False and extractable:
        _fail("DataError", "The JWK is not extractable (ext: false), so the key cannot be.")


def _jwk_alg(jwk: dict[str, Any], expected: Iterable[str]) -> None:
    if jwk.get("alg") is not None and jwk["alg"] not in expected:
        _fail("DataError", f"The JWK's alg {jwk['alg']!r} does not match the algorithm.")


def _jwk_out(key: Key, **members: Any) -> str:
    return json.dumps({**members, "key_ops": list(key.usages), "ext": key.extractable})


# Ops


def digest(args: dict[str, Any]) -> str:
    digest = hashes.Hash(HASHES[_normalize(args.get("alg"), "digest")["name"]]())
    digest.update(_bytes(args.get("data"), "data"))
    return _b64(digest.finalize())


def sign(args: dict[str, Any]) -> str:
    _, key = _keyed(args, "sign", "sign")
    data = _bytes(args.get("data"), "data")
    if key.name == "HMAC":
        return _b64(_hmac(key, data))
    return _b64(_ed_private(key.material).sign(data))


def verify(args: dict[str, Any]) -> bool:
    _, key = _keyed(args, "verify", "verify")
    signature = _bytes(args.get("signature"), "signature")
    data = _bytes(args.get("data"), "data")
    if key.name == "HMAC":
        return std_hmac.compare_digest(_hmac(key, data), signature)
    return _ed_verify(key, signature, data)


def encrypt(args: dict[str, Any]) -> str:
    alg, key = _keyed(args, "encrypt", "encrypt")
    return _b64(_aes_encrypt(alg, key, _bytes(args.get("data"), "data")))


def decrypt(args: dict[str, Any]) -> str:
    alg, key = _keyed(args, "decrypt", "decrypt")
    return _b64(_aes_decrypt(alg, key, _bytes(args.get("data"), "data")))


def import_key(args: dict[str, Any]) -> str:
    fmt = args.get("format")
    if fmt not in FORMATS:
        _fail("TypeError", f"{fmt!r} is not a key format (raw, spki, pkcs8, jwk).")
    alg = _normalize(args.get("alg"), "importKey")
    usages = _usages(args.get("usages"))
    extractable = args.get("extractable") is True
    data = args.get("keyData")
    if fmt == "jwk" and not isinstance(data, dict):
        _fail("TypeError", "A jwk import needs a JsonWebKey object.")
    if alg["name"] in ED25519:
        key = _import_ed(fmt, data, alg, extractable, usages)
    else:
        key = _import_secret(fmt, data, alg, extractable, usages)
    if key.type != "public" and not key.usages:
        _fail("SyntaxError", "A secret or private key needs at least one usage.")
    return _keys_text([key])


def _import_secret(
    fmt: str, data: Any, alg: dict[str, Any], extractable: bool, usages: tuple[str, ...]
) -> Key:
    name = alg["name"]
    _check_usages(usages, ALLOWED_USAGES[name], name)
    if fmt == "raw":
        material = _bytes(data, "keyData")
    elif fmt == "jwk":
        material = _b64url(data.get("k"), "k")
        _jwk_checks(data, "oct", "sig" if name == "HMAC" else "enc", extractable, usages)
        if name == "HMAC":
            _jwk_alg(data, [HMAC_JWK_ALG[_hash_of(alg)]])
        else:
            _jwk_alg(data, [f"A{len(material) * 8}GCM"])
    else:
        _fail("NotSupportedError", f"{name} keys cannot be imported as {fmt}.")
    if name == "HMAC":
        return _hmac_key(material, alg, extractable, usages)
    return _aes_key(material, extractable, usages)


def _import_ed(fmt: str, data: Any, alg: dict[str, Any], extractable: bool, usages: tuple[str, ...]) -> Key:
    algorithm = _ed_algorithm(alg["name"], alg)
    if fmt == "jwk":
        kind, material = _ed_jwk(data, extractable, usages)
    elif fmt == "raw":
        kind, material = "public", _raw_public(_ed_public(_bytes(data, "keyData")))
    else:
        kind, material = _ed_der(fmt, _bytes(data, "keyData"))
    _check_usages(usages, {"verify"} if kind == "public" else {"sign"}, f"{kind} {algorithm['name']}")
    return Key(kind, extractable, algorithm, usages, material)


def _ed_jwk(jwk: dict[str, Any], extractable: bool, usages: tuple[str, ...]) -> tuple[str, bytes]:
    _jwk_checks(jwk, "OKP", "sig", extractable, usages)
    if jwk.get("crv") != "Ed25519":
        _fail("DataError", "The JWK's crv must be 'Ed25519'.")
    _jwk_alg(jwk, ["Ed25519", "EdDSA"])
    public = _raw_public(_ed_public(_b64url(jwk.get("x"), "x")))
    if jwk.get("d") is None:
        return "public", public
    private = _ed_private(_b64url(jwk["d"], "d"))
    if _raw_public(private.public_key()) != public:
        _fail("DataError", "The JWK's x is not the public key of its d.")
    return "private", _raw_private(private)


def generate_key(args: dict[str, Any]) -> str:
    alg = _normalize(args.get("alg"), "generateKey")
    usages = _usages(args.get("usages"))
    extractable = args.get("extractable") is True
    name = alg["name"]
    if name in ED25519:
        _check_usages(usages, {"sign", "verify"}, name)
        return _keys_text(_ed_pair(_ed_algorithm(name, alg), extractable, usages))
    _check_usages(usages, ALLOWED_USAGES[name], name)
    if not usages:
        _fail("SyntaxError", "A secret key needs at least one usage.")
    if name == "AES-GCM":
        bits = _integer(alg, "length")
        if bits is None:
            _fail("TypeError", "AES-GCM keys need a length.")
        if bits not in AES_KEY_BITS:
            _fail("OperationError", "AES keys are 128, 192 or 256 bits.")
        return _keys_text([_aes_key(os.urandom(bits // 8), extractable, usages)])
    length = _integer(alg, "length", _hmac_block_bits(_hash_of(alg)))
    if not length:
        _fail("OperationError", "An HMAC key cannot be 0 bits.")
    if length > MAX_HMAC_KEY_BITS:  # the key is made here, on the gateway's loop: keep it small
        _fail("OperationError", f"HMAC keys z0 generates are at most {MAX_HMAC_KEY_BITS} bits.")
    return _keys_text(
        [_hmac_key(os.urandom((length + 7) // 8), {**alg, "length": length}, extractable, usages)]
    )


MAX_HMAC_KEY_BITS = 8192


def _ed_pair(algorithm: dict[str, Any], extractable: bool, usages: tuple[str, ...]) -> list[Key]:
    private = Ed25519PrivateKey.generate()
    sign_usages = tuple(usage for usage in usages if usage == "sign")
    if not sign_usages:
        _fail("SyntaxError", "An Ed25519 private key needs the usage 'sign'.")
    verify_usages = tuple(usage for usage in usages if usage == "verify")
    public = Key("public", True, algorithm, verify_usages, _raw_public(private.public_key()))
    return [public, Key("private", extractable, algorithm, sign_usages, _raw_private(private))]


def export_key(args: dict[str, Any]) -> str:
    fmt = args.get("format")
    if fmt not in FORMATS:
        _fail("TypeError", f"{fmt!r} is not a key format (raw, spki, pkcs8, jwk).")
    key = Key.from_handle(args.get("key"))
    if not key.extractable:
        _fail("InvalidAccessError", "The key is not extractable.")
    if key.name in ED25519:
        return _export_ed(fmt, key)
    if fmt == "raw":
        return _b64(key.material)
    if fmt != "jwk":
        _fail("NotSupportedError", f"{key.name} keys cannot be exported as {fmt}.")
    if key.name == "HMAC":
        alg = HMAC_JWK_ALG[key.algorithm["hash"]["name"]]
    else:
        alg = f"A{len(key.material) * 8}GCM"
    return _jwk_out(key, kty="oct", k=_to_b64url(key.material), alg=alg)


def _export_ed(fmt: str, key: Key) -> str:
    private = _ed_private(key.material) if key.type == "private" else None
    public = _ed_public(key.material) if private is None else private.public_key()
    if fmt == "jwk":
        members = {"kty": "OKP", "crv": "Ed25519", "x": _to_b64url(_raw_public(public))}
        if private is not None:
            members["d"] = _to_b64url(key.material)
        return _jwk_out(key, **members)
    if private is None and fmt == "raw":
        return _b64(_raw_public(public))
    if private is None and fmt == "spki":
        return _b64(
            public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    if private is not None and fmt == "pkcs8":
        return _b64(
            private.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    _fail("InvalidAccessError", f"A {key.type} Ed25519 key cannot be exported as {fmt}.")


OPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "digest": digest,
    "importKey": import_key,
    "generateKey": generate_key,
    "exportKey": export_key,
    "sign": sign,
    "verify": verify,
    "encrypt": encrypt,
    "decrypt": decrypt,
}


def _handler(op: Callable[[dict[str, Any]], Any]) -> Handler:
    async def handle(ctx: OpContext, args: dict[str, Any]) -> Any:
        data = args.get("data")
        try:
            if isinstance(data, str) and len(data) > THREAD_OVER:
                return await asyncio.to_thread(op, args)
            return op(args)
        except SubtleError as exc:
            return {"error": exc.name, "message": exc.message}

    return handle


def register(router: HostOpRouter, *, settings: Settings, registry: Registry | None = None) -> None:
    """Adds the subtle.* host ops (global: no binding; needs neither settings nor the registry)."""
    for name, op in OPS.items():
        router.register(f"subtle.{name}", _handler(op))
