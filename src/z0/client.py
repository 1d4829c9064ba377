"""A small client of the control API, used by the `z0` command."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ApiError", "Z0Client"]


class ApiError(Exception):
    """The control API refused a request, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Z0Client:
    def __init__(
        self,
        api_url: str,
        token: str | None,
        account_id: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        if not self.api_url.endswith("/client/v4"):
            self.api_url += "/client/v4"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=60, transport=transport)
        self._account_id = account_id

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Z0Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            accounts = self.request("GET", "/accounts")
            if len(accounts) != 1:
                raise ApiError("The token reaches several accounts; choose one with --account-id.")
            self._account_id = str(accounts[0]["id"])
        return self._account_id

    def account_path(self, path: str) -> str:
        return f"/accounts/{self.account_id}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `result` of a v4 envelope, or ApiError with the first error's message."""
        return self._result(method, path, self._send(method, path, **kwargs))

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, httpx.Headers]:
        """Like `request`, with the answer's headers (e.g. Idempotent-Replayed)."""
        response = self._send(method, path, **kwargs)
        return self._result(method, path, response), response.headers

    def text(self, method: str, path: str, **kwargs: Any) -> str:
        """An answer that is not an envelope (an invoice's HTML page); a refusal is still an envelope."""
        response = self._send(method, path, **kwargs)
        if response.is_success:
            return response.text
        self._result(method, path, response)  # raises ApiError with the API's message
        raise ApiError(f"{method} {path} answered {response.status_code}.", status=response.status_code)

    def events(self, path: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Server-Sent Events from a GET: (event, data decoded from JSON), until the server ends the
        stream; a refusal raises ApiError with the API's message."""
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(60, read=None), **kwargs) as response:
                if not response.is_success:
                    response.read()
                    self._result("GET", path, response)
                kind = "message"
                data: list[str] = []
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield kind, json.loads("\n".join(data))
                        kind, data = "message", []
                    elif line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
        except httpx.TransportError as exc:
            raise ApiError(f"Lost the control API at {self.api_url}: {exc}.") from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"Cannot reach the control API at {self.api_url}: {exc}.") from exc

    @staticmethod
    def _result(method: str, path: str, response: httpx.Response) -> Any:
        try:
            envelope = response.json()
        except ValueError:
            raise ApiError(
                f"{method} {path} answered {response.status_code} without a JSON envelope.",
                status=response.status_code,
            ) from None
        if not envelope.get("success"):
            errors = envelope.get("errors") or [{"message": f"HTTP {response.status_code}"}]
            first = errors[0]
            raise ApiError(str(first.get("message")), status=response.status_code, code=first.get("code"))
        return envelope.get("result")

    def deploy(
        self,
        namespace: str,
        name: str,
        files: Sequence[Path],
        *,
        main_module: str | None = None,
        tags: Sequence[str] | None = None,
        compatibility_date: str | None = None,
    ) -> Any:
        names = module_names(files)
        metadata: dict[str, Any] = {"main_module": main_module or names[0]}
        if tags:
            metadata["tags"] = list(tags)
        if compatibility_date:
            metadata["compatibility_date"] = compatibility_date
        parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("metadata", (None, json.dumps(metadata).encode(), "application/json"))
        ]
        for path, module_name in zip(files, names, strict=True):
            parts.append((module_name, (module_name, path.read_bytes(), content_type_for(module_name))))
        return self.request(
            "PUT", self.account_path(f"/workers/dispatch/namespaces/{namespace}/scripts/{name}"), files=parts
        )


def module_names(files: Sequence[Path]) -> list[str]:
    """Each file's path relative to the folder that holds them all, so relative imports resolve."""
    resolved = [path.resolve() for path in files]
    root = Path(*_common_parts([path.parent.parts for path in resolved]))
    return [path.relative_to(root).as_posix() for path in resolved]


def _common_parts(paths: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    common = paths[0]
    for parts in paths[1:]:
        length = 0
        while length < min(len(common), len(parts)) and common[length] == parts[length]:
            length += 1
        common = common[:length]
    return common


def content_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return {
        ".js": "application/javascript+module",
        ".mjs": "application/javascript+module",
        ".map": "application/source-map",
        ".txt": "text/plain",
        ".wasm": "application/wasm",
    }.get(suffix, "application/octet-stream")
