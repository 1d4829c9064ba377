"""Outbound `fetch` for workers, behind a guard that keeps them off the platform's own network (SSRF).

The guard judges the address that is actually connected to. z0 resolves every name itself (through
an injectable resolver), checks each address it got, and has httpcore connect to the checked IP
while the URL keeps the name (Host header, TLS SNI and certificate check). httpx and httpcore never
resolve anything, so no second lookup can answer differently between the check and the connect (DNS
rebinding). The URL is checked before any lookup (scheme, literal addresses in any spelling,
`localhost`), and every redirect hop is a new request through the same checks.

Op `fetch`:    {method, url, headers: [[name, value], …], body: base64 | null,
                redirect: "follow" | "manual" | "error", abort?: token}
Its result:    {status, statusText, headers: [[name, value], …] (each Set-Cookie its own pair), url,
                redirected, body: base64, bodyEncoding: "base64"}
Op `fetch.abort`: {token} cancels the fetch of the same request that carried that token.

Every fetch carries z0's `traceparent` (in place of any the worker set): the request's trace, and a
span of its own under the request's, recorded as `z0.wfp.fetch` when tracing is exported.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpcore
import httpx

from z0.bindings._router import HostOpRouter, OpContext
from z0.observe.tracing import Tracing
from z0.registry import Registry
from z0.runtime.hostops import HostOpError
from z0.settings import Settings

__all__ = [
    "FetchRefused",
    "FetchRequest",
    "Fetcher",
    "Guard",
    "GuardedNetwork",
    "Resolver",
    "address_refusal",
    "register",
    "system_resolver",
]

logger = logging.getLogger("z0.fetch")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name has, as strings; may raise OSError.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_REDIRECTS = 20  # the Fetch Standard's limit
MAX_CONNECTIONS = 1000  # per gateway process, all tenants: a busy tenant must not starve the others
PER_REQUEST = 6  # fetches open at once for one request (as Workers' simultaneous connections)
PER_TENANT = 100  # and for all of one tenant's requests in this process
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Guard: what a worker may not reach.

_V4_REFUSED = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
# IPv6 forms that carry an IPv4 address: judged by that address (and refused if it is refused).
_V6_COMPATIBLE = ipaddress.IPv6Network("::/96")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V6_EMBEDDING = (
    _V6_COMPATIBLE,
    _V6_NAT64,
    ipaddress.IPv6Network("::ffff:0:0/96"),
    ipaddress.IPv6Network("2002::/16"),  # 6to4
    ipaddress.IPv6Network("2001::/32"),  # Teredo
)
_V6_REFUSED = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("64:ff9b:1::/48", "a local NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/23", "an IETF protocol address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_V6_GLOBAL = ipaddress.IPv6Network("2000::/3")
# Refused even for a host:port in fetch_allow_hosts: what a name there resolves to may change.
_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",  # AWS VPC DNS over IPv6
    )
)


def _forms(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address it embeds (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address, address.ipv4_mapped]
    if address in _V6_COMPATIBLE or address in _V6_NAT64:
        return [address, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address, address.sixtofour]
    if address.teredo is not None:
        return [address, *address.teredo]
    return [address]


def _classify(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv4Address):
        return next((why for net, why in _V4_REFUSED if address in net), None)
    if address == ipaddress.IPv6Address("::"):
        return "an unspecified address"
    if address == ipaddress.IPv6Address("::1"):
        return "a loopback address"
    if any(address in net for net in _V6_EMBEDDING):
        return None
    why = next((why for net, why in _V6_REFUSED if address in net), None)
    if why is None and address not in _V6_GLOBAL:
        why = "a reserved address"
    return why


def address_refusal(address: IPAddress, *, allowed: bool = False) -> str | None:
    """Why a worker may not connect to this address ("a private address", …), or None when it may.
    `allowed`: the URL's host:port is in fetch_allow_hosts (only metadata addresses are refused)."""
    forms = _forms(address)
    if any(form in _METADATA for form in forms):
        return "a cloud metadata address"
    if allowed:
        return None
    return next((why for form in forms if (why := _classify(form)) is not None), None)


def _ipv4_number(part: str) -> int | None:
    digits, base = part, 10
    if digits[:2] == "0x":
        digits, base = digits[2:], 16
    elif len(digits) > 1 and digits[0] == "0":
        digits, base = digits[1:], 8
    if digits == "":
        return 0 if base != 10 else None
    allowed = "0123456789abcdef"[:base]
    return int(digits, base) if all(c in allowed for c in digits) else None


def _whatwg_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL parser's reading of a host that ends in a number (127.1, 0x7f000001,
    2130706433, 0177.0.0.1): an IPv4 address, or ValueError; None for a host that is a name."""
    parts = name.split(".")
    last = parts[-1]
    if not last or not ((last.isascii() and last.isdigit()) or _ipv4_number(last) is not None):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if len(parts) > 4 or None in numbers:
        raise ValueError(f"{name!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError(f"{name!r} is not a valid IPv4 address")
    return ipaddress.IPv4Address(values[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(values[:-1])))


_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


def parse_host(raw: str) -> tuple[str, IPAddress | None]:
    """A URL's host, canonical (lowercase; an address in its standard form, IPv6 without brackets),
    and the address it is, if it is one. ValueError for anything that is neither an address nor a
    plain DNS name (zone ids, percent signs, spaces, backslashes, …)."""
    host = raw.lower().removeprefix("[").removesuffix("]")
    if ":" in host:
        address = ipaddress.IPv6Address(host)  # a zone id ("%eth0") is refused here
        if address.scope_id is not None:
            raise ValueError("an IPv6 zone id is not allowed")
        return str(address), address
    name = host.removesuffix(".")
    v4 = _whatwg_ipv4(name)
    if v4 is not None:
        return str(v4), v4
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{raw!r} is not a valid host name")
    return host, None


def _refusal(host: str, address: IPAddress | None, allowed: bool) -> str | None:
    """Why a host as written (a canonical address or a name) may not be reached, before any lookup."""
    if address is not None:
        return address_refusal(address, allowed=allowed)
    name = host.removesuffix(".")
    if not allowed and (name == "localhost" or name.endswith(".localhost")):
        return "a loopback name"
    return None


class FetchRefused(HostOpError):
    """The guard refused a target; `detail` (for the operator's log) may say more than the message."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


def _cannot_load(url: str, why: str = "") -> FetchRefused:
    shown = url if len(url) <= 200 else url[:200] + "…"
    reason = f" ({why})" if why else ""
    # The operator's log gets no query string: it may carry the tenant's tokens.
    logged = url.partition("?")[0].partition("#")[0][:200]
    return FetchRefused(f"Fetch API cannot load: {shown}{reason}.", f"cannot load {logged}{reason}")


@dataclass(frozen=True, slots=True)
class Target:
    """One hop's URL, checked: the host canonical (an address in its standard form)."""

    url: httpx.URL
    host: str
    port: int
    allowed: bool  # its host:port is in fetch_allow_hosts


class _Slots:
    """Semaphores by name, made on first use and forgotten when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str, size: int) -> AsyncIterator[None]:
        semaphore, users = self._held.get(name) or (asyncio.Semaphore(size), 0)
        self._held[name] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._held[name]
            if users == 1:
                del self._held[name]
            else:
                self._held[name] = (semaphore, users - 1)


def _port(url: httpx.URL) -> int:
    return url.port if url.port is not None else 443 if url.scheme == "https" else 80


# DNS lookups have threads of their own: a tenant fetching slow-resolving names must not hold the
# threads that load scripts and refresh the registry view.
_DNS_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="z0-dns")


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().run_in_executor(
        _DNS_THREADS, functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    )
    return [str(info[4][0]) for info in infos]


def _allow_entry(entry: str) -> tuple[str, int]:
    host, sep, port = entry.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"fetch_allow_hosts: {entry!r} is not host:port")
    return parse_host(host)[0].removesuffix("."), int(port)


class Guard:
    """Checks URLs (no lookups) and resolves names to the addresses a worker may connect to."""

    def __init__(self, allow_hosts: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self._allow = frozenset(_allow_entry(entry) for entry in allow_hosts)
        self._resolver = resolver

    def allows(self, host: str, port: int) -> bool:
        return (host.removesuffix("."), port) in self._allow

    def target(self, url: str) -> Target:
        """The URL as it will be fetched, or FetchRefused: not http(s), not a valid host or port, or
        a literal address or localhost name a worker may not reach."""
        try:
            parsed = httpx.URL(url)
            host, address = parse_host(parsed.raw_host.decode("ascii"))
        except (httpx.InvalidURL, ValueError, UnicodeError, TypeError):
            raise _cannot_load(url) from None
        if parsed.scheme not in ("http", "https") or not parsed.is_absolute_url:
            raise _cannot_load(url)
        port = _port(parsed)
        if not 0 < port < 65536:
            raise _cannot_load(url, "invalid port")
        allowed = self.allows(host, port)
        why = _refusal(host, address, allowed)
        if why is not None:
            raise _cannot_load(url, f"{host} is {why}; workers may only reach public addresses")
        if host != parsed.raw_host.decode("ascii"):
            parsed = parsed.copy_with(host=host)
        return Target(parsed, host, port, allowed)

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for host:port: each checked, none refused; else FetchRefused."""
        try:
            host, address = parse_host(host)
        except ValueError:
            raise FetchRefused(f"{host} is not a valid host.") from None
        allowed = self.allows(host, port)
        why = _refusal(host, address, allowed)
        if why is not None:
            raise FetchRefused(f"{host} is {why}; workers may only reach public addresses.")
        return [address] if address is not None else await self._resolve(host, port, allowed)

    async def _resolve(self, host: str, port: int, allowed: bool) -> list[IPAddress]:
        message = f"{host} could not be resolved to a public address."
        try:
            found = await self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchRefused(message, f"{host}: lookup failed: {exc}") from None
        usable: list[IPAddress] = []
        refused: list[str] = []
        for text in found:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            why = address_refusal(address, allowed=allowed)
            if why is None:
                usable.append(address)
            else:
                refused.append(f"{address} ({why})")
        if not usable:
            raise FetchRefused(message, f"{host} resolved to {', '.join(refused) or 'nothing usable'}")
        return usable


class GuardedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's network, through the guard: a connection to a name goes to an address the guard
    resolved and checked; `inner` only ever sees IP addresses."""

    def __init__(self, guard: Guard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self._guard.addresses(host, port):
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() returns at least one
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("Workers cannot reach Unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# Requests

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\0\r\n]")
# Hop-by-hop or computed from the request itself: never taken from the worker.
_REQUEST_DROPPED = frozenset(
    {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
     "upgrade", "content-length", "expect"}
)  # fmt: skip
_BODY_HEADERS = frozenset({"content-encoding", "content-language", "content-location", "content-type"})
_CROSS_ORIGIN_DROPPED = frozenset({"authorization", "proxy-authorization", "cookie"})
_RESPONSE_DROPPED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class FetchRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]  # names lowercase
    body: bytes | None
    redirect: str = "follow"

    @classmethod
    def from_op(cls, op: dict[str, Any]) -> FetchRequest:
        """The request a `fetch` op describes; HostOpError for anything malformed."""
        method, url, redirect = op.get("method", "GET"), op.get("url"), op.get("redirect", "follow")
        if not isinstance(method, str) or not _TOKEN.fullmatch(method):
            raise HostOpError(f"Invalid HTTP method string: {method}")
        if method.upper() in ("CONNECT", "TRACE", "TRACK"):
            raise HostOpError(f"Invalid HTTP method string: {method}")
        if not isinstance(url, str):
            raise HostOpError("fetch needs a URL.")
        if redirect not in ("follow", "manual", "error"):
            raise HostOpError(f"Invalid redirect value: {redirect}")
        return cls(method, url, _headers_from_op(op.get("headers")), _body_from_op(op.get("body")), redirect)

    def to(self, status: int, url: str, cross_origin: bool) -> FetchRequest:
        """This request redirected (Fetch Standard, HTTP-redirect fetch)."""
        method, body, headers = self.method, self.body, self.headers
        if (status in (301, 302) and method == "POST") or (status == 303 and method not in ("GET", "HEAD")):
            method, body = "GET", None
            headers = tuple(h for h in headers if h[0] not in _BODY_HEADERS)
        if cross_origin:
            headers = tuple(h for h in headers if h[0] not in _CROSS_ORIGIN_DROPPED)
        return replace(self, method=method, url=url, body=body, headers=headers)

    def traced(self, traceparent: str) -> FetchRequest:
        headers = tuple(header for header in self.headers if header[0] != "traceparent")
        return replace(self, headers=(*headers, ("traceparent", traceparent)))


def _headers_from_op(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise HostOpError("fetch: headers must be a list of [name, value] pairs.")
    headers: list[tuple[str, str]] = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise HostOpError("fetch: headers must be a list of [name, value] pairs.")
        name, value = pair[0].lower(), pair[1]
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise HostOpError("Invalid header name or value.")
        if name not in _REQUEST_DROPPED:
            headers.append((name, value))
    return tuple(headers)


def _body_from_op(raw: Any) -> bytes | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise HostOpError("fetch: the body must be base64.")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise HostOpError("fetch: the body must be base64.") from None


# Responses

_PIECE = 64 * 1024


class _Decoder:
    """One content coding (gzip or deflate), undone in pieces of at most 64 KiB: a small compressed
    body must not expand in memory past the response limit before the limit is checked."""

    def __init__(self, coding: str) -> None:
        self._sniff = coding == "deflate"
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._sniff and data:
            self._sniff = False
            if not _zlib_header(data):  # "deflate" means zlib-wrapped, but many servers send it raw
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data and not self._z.eof:
            piece = self._z.decompress(data, _PIECE)
            data = self._z.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) == _PIECE:
                yield from self._drain()

    def _drain(self) -> Iterator[bytes]:
        while not self._z.eof:
            piece = self._z.decompress(b"", _PIECE)
            if not piece:
                return
            yield piece


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


class _Decoding:
    """The response's content codings undone, last applied first; None when one is unknown (br
    without brotli, zstd, …): the body then stays encoded and keeps its Content-Encoding."""

    def __init__(self, codings: list[str]) -> None:
        self._stages = [_Decoder(coding) for coding in reversed(codings) if coding != "identity"]

    @classmethod
    def of(cls, content_encoding: str) -> _Decoding | None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        if any(c not in ("gzip", "x-gzip", "deflate", "identity") for c in codings):
            return None
        return cls(codings)

    @property
    def active(self) -> bool:
        return bool(self._stages)

    def feed(self, data: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = [data]
        for stage in self._stages:
            pieces = _through(stage, pieces)
        return iter(pieces)


def _through(stage: _Decoder, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


def _origin(url: httpx.URL) -> tuple[str, bytes, int]:
    return (url.scheme, url.raw_host, _port(url))


# The fetcher


class Fetcher:
    """Performs `fetch` ops: one connection pool for the process (no cookie jar, no proxies, no
    default headers: a request carries only what the worker gave)."""

    def __init__(
        self,
        *,
        allow_hosts: Iterable[str] = (),
        timeout_s: float = 30.0,
        max_response_bytes: int = 32 * 1024 * 1024,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.guard = Guard(allow_hosts, resolver)
        self.tracing = tracing
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=100,
            keepalive_expiry=15.0,
            network_backend=GuardedNetwork(self.guard, network),
        )
        self._running: dict[tuple[str, int], asyncio.Task[Any]] = {}
        self._slots = _Slots()

    @classmethod
    def from_settings(cls, settings: Settings, **injected: Any) -> Fetcher:
        return cls(
            allow_hosts=settings.fetch_allow_hosts,
            timeout_s=settings.fetch_timeout_s,
            max_response_bytes=settings.fetch_max_response_bytes,
            **injected,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    # Host ops

    async def perform(self, ctx: OpContext, op: dict[str, Any]) -> dict[str, Any]:
        """The `fetch` op, traced as a child of the request's span."""
        request = FetchRequest.from_op(op)
        parent = ctx.trace
        if parent is None:
            return await self._perform(ctx, op, request)
        span = parent.child()
        request = request.traced(span.traceparent)
        if self.tracing is None or not span.sampled:
            return await self._perform(ctx, op, request)
        started = time.time_ns()
        try:
            result = await self._perform(ctx, op, request)
        except BaseException as exc:
            self.tracing.fetch(
                span, parent.span_id, started, time.time_ns(),
                method=request.method, url=request.url, status=None, failure=exc,
            )  # fmt: skip
            raise
        self.tracing.fetch(
            span, parent.span_id, started, time.time_ns(),
            method=request.method, url=request.url, status=result["status"], failure=None,
        )  # fmt: skip
        return result

    async def _perform(self, ctx: OpContext, op: dict[str, Any], request: FetchRequest) -> dict[str, Any]:
        """A request has at most PER_REQUEST fetches open at once and a tenant at most PER_TENANT (the
        others wait their turn), so that no one tenant holds the shared pool."""
        token = op.get("abort")
        key = (ctx.request_id, token) if isinstance(token, int) else None
        task = asyncio.current_task()
        if key is not None and task is not None:
            self._running[key] = task
        try:
            async with (
                self._slots.hold(f"r:{ctx.request_id}", PER_REQUEST),
                self._slots.hold(f"t:{ctx.script.tenant_id or ctx.script.name}", PER_TENANT),
            ):
                return await self.fetch(request)
        except FetchRefused as exc:
            logger.info("%s %s: fetch refused: %s", ctx.request_id, ctx.script.name, exc.detail)
            raise
        finally:
            if key is not None:
                self._running.pop(key, None)

    async def abort(self, ctx: OpContext, op: dict[str, Any]) -> None:
        """The `fetch.abort` op: the worker's AbortSignal fired; its fetch stops where it is."""
        token = op.get("token")
        task = self._running.pop((ctx.request_id, token), None) if isinstance(token, int) else None
        if task is not None:
            task.cancel()

    # Fetching

    async def fetch(self, request: FetchRequest) -> dict[str, Any]:
        """The response to `request`, as the `fetch` op returns it; HostOpError (whose message the
        worker sees) when refused or failed."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(request)
        except TimeoutError:
            raise HostOpError(f"The subrequest timed out (after {self.timeout_s:g} s).") from None

    async def _follow(self, request: FetchRequest) -> dict[str, Any]:
        redirected = False
        for hop in range(MAX_REDIRECTS + 1):
            target = self.guard.target(request.url)
            async with self._exchange(target, request) as response:
                location = _header(response.headers, b"location")
                if (
                    response.status not in REDIRECT_STATUSES
                    or location is None
                    or request.redirect == "manual"
                ):
                    return await self._result(target, response, redirected)
                if request.redirect == "error":
                    raise HostOpError(f'Fetch of {target.host} was redirected, and redirect is "error".')
                if hop == MAX_REDIRECTS:
                    raise HostOpError(f"Too many redirects (more than {MAX_REDIRECTS}).")
                try:
                    following = target.url.join(location)
                except (httpx.InvalidURL, ValueError):
                    raise _cannot_load(location, "an invalid redirect") from None
            cross = _origin(following) != _origin(target.url)
            request = request.to(response.status, str(following), cross)
            redirected = True
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _exchange(self, target: Target, request: FetchRequest) -> AsyncIterator[httpcore.Response]:
        """One request on the wire; the response's body is read (or not) inside."""
        built = httpx.Request(request.method, target.url, headers=self._headers(request))
        url = target.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=built.headers.raw,
            content=request.body or b"",
        )
        with _network_errors(target.host):
            response = await self._pool.handle_async_request(core)
            try:
                yield response
            finally:
                await response.aclose()

    @staticmethod
    def _headers(request: FetchRequest) -> list[tuple[bytes, bytes]]:
        headers = [(name.encode("ascii"), _header_bytes(value)) for name, value in request.headers]
        if not any(name == "accept-encoding" for name, _ in request.headers):
            headers.append((b"accept-encoding", b"gzip, deflate"))
        if request.body is not None:
            headers.append((b"content-length", str(len(request.body)).encode()))
        return headers

    async def _result(self, target: Target, response: httpcore.Response, redirected: bool) -> dict[str, Any]:
        decoding = _Decoding.of(_header(response.headers, b"content-encoding") or "")
        body = await self._read(target, response, decoding)
        dropped = _RESPONSE_DROPPED
        if decoding is not None and decoding.active and body:
            dropped = dropped | {"content-encoding", "content-length"}
        headers = [
            [name.decode("latin-1").lower(), value.decode("latin-1")]
            for name, value in response.headers
            if name.decode("latin-1").lower() not in dropped
        ]
        reason = response.extensions.get("reason_phrase", b"")
        return {
            "status": response.status,
            "statusText": reason.decode("latin-1") if isinstance(reason, bytes) else "",
            "headers": headers,
            "url": str(target.url.copy_with(fragment=None)),
            "redirected": redirected,
            "body": base64.b64encode(body).decode("ascii"),
            "bodyEncoding": "base64",
        }

    async def _read(self, target: Target, response: httpcore.Response, decoding: _Decoding | None) -> bytes:
        """The body, decoded; refused as soon as what was read or what it decodes to passes the limit."""
        limit = self.max_response_bytes
        too_large = HostOpError(
            f"The response from {target.host} is larger than {limit} bytes "
            "(the limit of a subrequest's response)."
        )
        declared = _header(response.headers, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        received = 0
        body = bytearray()
        async for chunk in response.aiter_stream():
            received += len(chunk)
            if received > limit:
                raise too_large
            for piece in decoding.feed(chunk) if decoding is not None else (chunk,):
                if len(body) + len(piece) > limit:
                    raise too_large
                body += piece
        return bytes(body)


@contextlib.contextmanager
def _network_errors(host: str) -> Iterator[None]:
    """httpcore's failures as the messages a worker sees (Workers' own where it has one)."""
    try:
        yield
    except httpcore.TimeoutException:  # z0 sets no per-phase timeouts; the whole fetch has one
        raise HostOpError(f"The connection to {host} timed out.") from None
    except httpcore.ConnectError as exc:
        tls = _ssl_error(exc)
        if tls is not None:
            raise HostOpError(f"TLS handshake with {host} failed: {tls}.") from None
        raise HostOpError(f"Could not connect to {host}.") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol):
        raise HostOpError("Network connection lost.") from None
    except zlib.error:
        raise HostOpError(f"The response from {host} could not be decompressed.") from None


def _ssl_error(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(getattr(seen, "verify_message", None) or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None


def register(
    router: HostOpRouter,
    *,
    settings: Settings,
    registry: Registry,
    resolver: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
    tracing: Tracing | None = None,
) -> Fetcher:
    """Adds `fetch` and `fetch.abort` to the router (global ops: no binding). `resolver`, `network`
    and `ssl_context` are for tests; the returned Fetcher holds the connection pool (aclose it)."""
    fetcher = Fetcher.from_settings(
        settings, resolver=resolver, network=network, ssl_context=ssl_context, tracing=tracing
    )
    router.register("fetch", fetcher.perform)
    router.register("fetch.abort", fetcher.abort)
    return fetcher
