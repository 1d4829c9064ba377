"""Dispatch namespaces: `/accounts/{account_id}/workers/dispatch/namespaces`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from z0.control._auth import AccountId, Operator, registry_of
from z0.control._envelope import Envelope, ok
from z0.control._schemas import NamespaceIn, NamespaceOut

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/workers/dispatch/namespaces", tags=["namespaces"])


@router.post("", response_model=Envelope[NamespaceOut], summary="Create a dispatch namespace")
def create_namespace(body: NamespaceIn, account_id: AccountId, caller: Operator, request: Request) -> Any:
    namespace = registry_of(request).namespaces.create(account_id, body.name, created_by=caller.id)
    return ok(NamespaceOut.of(namespace))


@router.get("", response_model=Envelope[list[NamespaceOut]], summary="List dispatch namespaces")
def list_namespaces(account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok([NamespaceOut.of(ns) for ns in registry_of(request).namespaces.list(account_id)])


@router.get("/{namespace}", response_model=Envelope[NamespaceOut], summary="Get a dispatch namespace")
def get_namespace(namespace: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok(NamespaceOut.of(registry_of(request).namespaces.get(account_id, namespace)))


@router.delete("/{namespace}", response_model=Envelope[None], summary="Delete a namespace and its scripts")
def delete_namespace(namespace: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    registry_of(request).namespaces.delete(account_id, namespace)
    return ok(None)
