import pytest

from mmserve.errors import ConfigError
from mmserve.models.fake import FakeEmbedder
from mmserve.models.registry import create_model, list_models, register


def test_lists_names_and_schemes_with_descriptions():
    known = list_models()
    assert {"minilm", "local:", "fake"} <= set(known)
    assert all(known.values())


def test_creates_by_name_and_by_scheme_with_options():
    assert isinstance(create_model("f", "fake"), FakeEmbedder)
    model = create_model("g", "fake:dim=3,max_tokens=5")
    assert (model.id, model.dimensions, model.max_tokens) == ("g", 3, 5)


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown source 'nope'.*minilm"):
        create_model("x", "nope")
    with pytest.raises(ConfigError, match="unknown source 'hub:abc'"):
        create_model("x", "hub:abc")


def test_bad_fake_option_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown fake option 'colour'"):
        create_model("x", "fake:colour=3")


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register("fake")(lambda model_id, arg: FakeEmbedder(model_id))
