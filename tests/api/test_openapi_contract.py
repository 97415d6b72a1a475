"""The document declares what the server enforces (api/contract.py and the schemas' limits);
tests/e2e/test_contract.py fuzzes a real server against it."""

from __future__ import annotations

import io
import re
import wave

from PIL import Image

from mmserve.api.contract import operation_id, tiny_png, tiny_wav
from mmserve.store.records import check_name


def document(client) -> dict:
    return client.get("/openapi.json").get_json()


def parameter(doc: dict, path: str, method: str, name: str) -> dict:
    return next(p for p in doc["paths"][path][method]["parameters"] if p["name"] == name)


def test_path_parameters_carry_the_stores_rules_and_an_example(client):
    doc = document(client)
    collection = parameter(doc, "/v1/collections/{name}/items", "post", "name")
    pattern = collection["schema"]["pattern"]
    assert check_name(collection["example"]) == collection["example"]
    for name in ["photos", "a.b-c_1", "x" * 128]:
        assert re.search(pattern, name)
    for name in ["", ".hidden", "a/b", "x" * 129, "a\x00"]:
        assert not re.search(pattern, name)
    fusion = parameter(doc, "/v1/fusion/models/{name}/activate", "post", "name")
    assert not re.search(fusion["schema"]["pattern"], "Memes")  # lower case only
    item = parameter(doc, "/v1/collections/{name}/items/{item_id}", "get", "item_id")
    assert item["schema"]["maxLength"] == 512


def test_request_limits_are_declared(client):
    schemas = document(client)["components"]["schemas"]
    labels = schemas["LabelSetRequest"]["properties"]["labels"]
    assert (labels["minItems"], labels["maxItems"]) == (1, 1000)
    assert labels["items"]["maxLength"] == 200
    assert schemas["FusionRegister"]["properties"]["path"]["maxLength"] == 1024
    assert schemas["CollectionCreate"]["properties"]["dim"]["maximum"] == 65_536
    assert schemas["SearchRequest"]["properties"]["top_k"]["maximum"] == 1000
    assert schemas["ItemsAdd"]["properties"]["items"]["maxItems"] == 2048


def test_operations_have_ids_examples_and_links(client):
    doc = document(client)
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    ocr = doc["paths"]["/v1/images/ocr"]["post"]["requestBody"]["content"]["application/json"]
    (example,) = ocr["examples"].values()
    assert example["value"]["image"].startswith("data:image/png;base64,")
    links = doc["paths"]["/v1/fusion/models"]["post"]["responses"]["201"]["links"]
    activate = links["Activate"]
    assert activate["operationId"] == operation_id("post", "/v1/fusion/models/{name}/activate")
    assert activate["operationId"] in ids
    for ops in doc["paths"].values():  # every link names an operation of the document
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids, link


def test_the_example_media_decode():
    assert Image.open(io.BytesIO(tiny_png())).size == (8, 8)
    with wave.open(io.BytesIO(tiny_wav())) as clip:
        assert (clip.getframerate(), clip.getnframes()) == (16_000, 16_000)
