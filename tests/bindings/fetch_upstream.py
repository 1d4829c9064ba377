"""What the fetch tests talk to: upstream HTTP(S) servers on 127.0.0.1, and a resolver and a network
that record every lookup and every connection attempt.

No test connects off this machine. Names are answered by `RecordingResolver` from a table; the
"public" addresses in that table (PUBLIC_V4, PUBLIC_V6) are never dialled: `RecordingNetwork` routes
them to 127.0.0.1, and refuses (AssertionError) any connection that is neither routed nor let through.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class RecordingResolver:
    """Answers names from a table (each answer a list, or a list of lists taken in turn); records
    every lookup; an unknown name fails as DNS would."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        answer = self.names.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):
            return list(answer.pop(0))
        return list(answer)


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """Records every connection attempt. Connects for real only to 127.0.0.1 on a port let through;
    PUBLIC_V4/PUBLIC_V6 stand for the internet and are routed to 127.0.0.1 on the same port."""

    def __init__(self, ports: Iterable[int] = ()) -> None:
        self.ports = set(ports)
        self.attempts: list[tuple[str, int]] = []
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.attempts.append((host, port))
        ipaddress.ip_address(host)  # the guard hands the network addresses, never names
        real = "127.0.0.1" if host in (PUBLIC_V4, PUBLIC_V6) else host
        if real != "127.0.0.1" or port not in self.ports:
            raise AssertionError(f"the guard let a connection to {host}:{port} through")
        return await self.inner.connect_tcp(real, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AssertionError("no Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


# Upstreams

PAYLOAD = bytes(range(256)) * 300 + b"\x00\xff"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode(),
        }
        self.server.requests.append(seen)
        route = getattr(self, "route_" + url.path.strip("/").replace("-", "_"), None)
        if route is None:
            self._send(404, b"no such route")
        else:
            route(query, seen)

    def _send(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _chunks(self, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def route_echo(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        headers = [("content-type", "application/json"), ("x-upstream", "yes")]
        headers += [("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; Path=/")]
        if query.get("close"):
            headers.append(("connection", "close"))
        self._send(200, json.dumps(seen).encode(), headers)

    def route_bytes(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._send(200, PAYLOAD, [("content-type", "application/octet-stream")])

    def route_body(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._send(200, base64.b64decode(seen["body"]), [("content-type", "application/octet-stream")])

    def route_status(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        code = int(query["code"])
        if code in (204, 304):
            self.send_response(code)
            self.end_headers()
        else:
            self._send(code, b"status " + str(code).encode())

    def route_redirect(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        status = int(query.get("status", "302"))
        self._send(status, b"moved", [("location", query["to"])])

    def route_loop(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._send(302, b"again", [("location", "/loop")])

    def route_encoded(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        coding = query["coding"]
        data = PAYLOAD
        if coding == "gzip":
            data = gzip.compress(PAYLOAD)
        elif coding == "deflate":
            data = zlib.compress(PAYLOAD)
        elif coding == "corrupt":
            data, coding = b"this is not gzip", "gzip"
        elif coding == "rawdeflate":
            squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            data, coding = squeeze.compress(PAYLOAD) + squeeze.flush(), "deflate"
        self._send(200, data, [("content-encoding", coding)])

    def route_bomb(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._send(200, gzip.compress(bytes(int(query["n"]))), [("content-encoding", "gzip")])

    def route_big(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._send(200, bytes(int(query["n"])))

    def route_endless(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._chunks()
        self._until_gone(b"x" * 65536, 0.0)

    def route_drip(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self._chunks()
        self._until_gone(b"drip\n", 0.02)

    def route_slow(self, query: dict[str, str], seen: dict[str, Any]) -> None:
        self.server.stopping.wait(float(query["s"]))
        self._send(200, b"late")

    def _until_gone(self, data: bytes, pause: float) -> None:
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                self._chunk(data)
                if pause:
                    time.sleep(pause)
        except OSError:
            self.server.disconnects.append((self.path, time.monotonic()))


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[tuple[str, float]] = []
        self.stopping = threading.Event()
        self.port = int(self.server_address[1])
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        self.requests.clear()
        self.disconnects.clear()

    def seen_headers(self, index: int = -1) -> dict[str, str]:
        return dict(self.requests[index]["headers"])


def tls_pair(name: str) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """(server context with a certificate for `name`, client context trusting only it, the SNI names
    the server saw)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as file:
        file.write(cert_pem + key_pem)
        file.flush()
        server.load_cert_chain(file.name)
    seen: list[str] = []

    def record_sni(sock: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        seen.append(server_name or "")

    server.sni_callback = record_sni  # type: ignore[assignment]
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client, seen
