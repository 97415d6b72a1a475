"""The client's result types against the server's /openapi.json, and its imports."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from mmserve.client import types


@pytest.fixture
def schemas(app):
    return app.test_client().get("/openapi.json").get_json()["components"]["schemas"]


@pytest.mark.parametrize("kind", types.RESPONSE_TYPES, ids=lambda k: k.__name__)
def test_each_result_type_has_its_schemas_fields(kind, schemas):
    schema = schemas[kind.SCHEMA]
    fields = {f.name: f for f in dataclasses.fields(kind)}
    assert set(fields) == set(schema["properties"]), kind.SCHEMA
    no_default = dataclasses.MISSING
    required = {
        name
        for name, f in fields.items()
        if f.default is no_default and f.default_factory is no_default
    }
    assert required <= set(schema.get("required", [])), f"{kind.SCHEMA}: optional there"


# Answers the client does not type as a whole: {"data": [...]} lists it unwraps (their items
# are typed, checked below), and deletion receipts it returns as plain JSON.
UNWRAPPED = {"ItemsAdded", "SearchResponse"}
PLAIN = {"Deleted"}


def test_every_response_schema_of_our_routes_has_a_type(app):
    document = app.test_client().get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    typed = {k.SCHEMA for k in types.RESPONSE_TYPES}
    openai_routes = (
        "/v1/embeddings",
        "/v1/files",
        "/v1/batches",
        "/v1/chat/completions",
    )  # the openai package's
    untyped = set()
    for path, operations in document["paths"].items():
        if path.startswith(openai_routes):
            continue
        for operation in operations.values():
            for answer in operation["responses"].values():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                name = schema.get("$ref", "").rsplit("/", 1)[-1]
                if name.endswith("List") or name in UNWRAPPED:
                    name = schemas[name]["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[-1]
                if name and name not in typed | PLAIN | {"ErrorResponse"}:
                    untyped.add(f"{path}: {name}")
    assert untyped == set()


def test_importing_the_client_loads_no_server_code():
    code = (
        "import sys, mmserve.client; "
        "heavy = [m for m in ('flask', 'numpy', 'PIL', 'onnxruntime', 'pydantic', 'mmserve.app')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
