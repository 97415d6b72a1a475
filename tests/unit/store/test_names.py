import pytest

from mmserve.errors import InvalidRequest
from mmserve.store.names import COLLECTION, FUSION_MODEL, LABEL_SET, check_name


def test_each_kind_keeps_its_rule():
    assert check_name("Photos.2021_v-1", COLLECTION) == "Photos.2021_v-1"
    assert check_name("x" * 128, COLLECTION)
    assert check_name("x" * 64, LABEL_SET)
    assert check_name("memes-v2", FUSION_MODEL)
    refused = [
        ("x" * 129, COLLECTION),
        ("x" * 65, LABEL_SET),
        ("Memes", FUSION_MODEL),
        ("a.b", FUSION_MODEL),
        (".hidden", COLLECTION),
        ("ok\n", COLLECTION),
    ]
    for name, rule in refused:
        with pytest.raises(InvalidRequest):
            check_name(name, rule)


def test_the_error_names_the_field_the_kind_and_the_rule():
    with pytest.raises(InvalidRequest) as caught:
        check_name("bad name", LABEL_SET, "label_set")
    error = caught.value
    assert (error.param, error.code) == ("label_set", "invalid_name")
    assert error.message.startswith("label_set: 'bad name' is not a valid label set name; use 1-64")
    with pytest.raises(InvalidRequest) as caught:
        check_name(7, COLLECTION)
    assert "int is not a valid collection name" in caught.value.message
