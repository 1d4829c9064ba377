from __future__ import annotations

from tests.conftest import Api


def test_openapi_spec_and_docs(api: Api) -> None:
    spec = api.client.get("/client/v4/openapi.json").json()
    paths = spec["paths"]
    assert "/client/v4/accounts/{account_id}/workers/dispatch/namespaces" in paths
    upload = paths[
        "/client/v4/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts/{script_name}"
    ]
    assert "multipart/form-data" in upload["put"]["requestBody"]["content"]
    assert "/client/v4/accounts/{account_id}/z0/tenants/{tenant_id}/keys" in paths
    assert "/client/v4/accounts/{account_id}/z0/tokens" in paths
    docs = api.client.get("/client/v4/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_unknown_route_is_a_404_envelope(api: Api) -> None:
    response = api.call("GET", "/client/v4/nothing/here")
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["errors"][0]["code"] == 7003
