"""The Cloudflare v4 envelope: `{"success", "errors": [{"code", "message"}], "messages", "result"}`."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

__all__ = ["Envelope", "ErrorItem", "PagedEnvelope", "ResultInfo", "error_response", "list_response", "ok"]

T = TypeVar("T")


class ErrorItem(BaseModel):
    code: int
    message: str


class ResultInfo(BaseModel):
    page: int
    per_page: int
    count: int
    total_count: int


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    errors: list[ErrorItem] = Field(default_factory=list)
    messages: list[ErrorItem] = Field(default_factory=list)
    result: T | None = None


class PagedEnvelope(Envelope[T], Generic[T]):
    """A list answer that was asked for one page (`?page=`, `?per_page=`)."""

    result_info: ResultInfo | None = None


def ok(result: Any = None, *, result_info: ResultInfo | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        envelope["result_info"] = result_info
    return envelope


def list_response(items: list[Any], result_info: ResultInfo | None = None) -> JSONResponse:
    """A list answer; `result_info` appears only when a page was asked for."""
    return JSONResponse(jsonable_encoder(ok(items, result_info=result_info)))


def error_response(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None},
        status_code=status,
        headers=headers,
    )
