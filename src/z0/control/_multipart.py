"""Reading a script upload's multipart body, with the size limit enforced while it streams in."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from z0.errors import InvalidRequest, PayloadTooLarge
from z0.uploads import UploadPart

__all__ = ["multipart_body", "read_upload"]

# Room for part headers and the metadata part on top of the modules' own limit.
_ENVELOPE_ALLOWANCE = 1024 * 1024


async def read_upload(request: Request, max_bytes: int) -> tuple[str | bytes | None, list[UploadPart]]:
    """The raw `metadata` part and every other part of a multipart/form-data upload."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidRequest(
            "A script upload is multipart/form-data: a 'metadata' part (JSON with main_module) "
            f"and one part per module; this request is {content_type or 'without a content type'!r}."
        )
    limit = max_bytes + _ENVELOPE_ALLOWANCE
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is {declared} bytes; scripts are limited to {max_bytes} bytes.")
    limited = Request(request.scope, receive=_limited(request.receive, limit, max_bytes))
    try:
        form = await limited.form(max_files=1000, max_fields=1000, max_part_size=limit)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # starlette reports malformed bodies with its own exception types
        raise InvalidRequest(f"The multipart body could not be read: {getattr(exc, 'detail', exc)}.") from exc
    metadata: str | bytes | None = None
    parts: list[UploadPart] = []
    try:
        for field_name, value in form.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                if field_name == "metadata":
                    metadata = content
                    continue
                parts.append(UploadPart(field_name, value.filename, value.content_type, content))
            elif field_name == "metadata":
                metadata = value
            else:
                parts.append(UploadPart(field_name, None, None, value.encode("utf-8")))
    finally:
        await form.close()
    return metadata, parts


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused (413) as soon as it is past `max_bytes`, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The body is over the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _limited(receive: Receive, limit: int, max_bytes: int) -> Receive:
    seen = 0

    async def receive_within_limit() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(
                    f"The upload is over the limit: scripts are limited to {max_bytes} bytes."
                )
        return message

    return receive_within_limit


def multipart_body(parts: list[tuple[str, str, bytes]], boundary: str) -> bytes:
    """A multipart/form-data body: one part per (name, content type, content), filename = name."""
    chunks: list[bytes] = []
    for name, content_type, content in parts:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted}"; filename="{quoted}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(content)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)
