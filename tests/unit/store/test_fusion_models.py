"""The fusion model registry: versions kept, one active, rollback through the activation
history, a stamp that changes with every write, names checked."""

from __future__ import annotations

import pytest

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store.fusion_models import FusionRegistry


def artifact(tmp_path, name: str):
    path = tmp_path / name
    path.mkdir()
    (path / "config.json").write_text(f'{{"name": "{name}"}}')
    return path


def test_versions_activation_and_rollback(tmp_path):
    registry = FusionRegistry(tmp_path / "data")
    assert registry.entries() == [] and registry.stamp() is None
    v1 = registry.register("memes", artifact(tmp_path, "a"), summary={"strategy": "early"})
    stamp = registry.stamp()
    assert v1.version == 1 and (v1.path / "config.json").read_text() == '{"name": "a"}'
    registry.register("memes", artifact(tmp_path, "b"), summary={})
    registry.register("memes", artifact(tmp_path, "c"), activate=False, summary={})
    assert registry.stamp() != stamp
    entry = registry.get("memes")
    assert [v.version for v in entry.versions] == [1, 2, 3] and entry.active == 2
    assert entry.version(1).summary == {"strategy": "early"}

    assert registry.activate("memes", 3).active == 3
    assert registry.rollback("memes").active == 2
    assert registry.rollback("memes").active == 1
    with pytest.raises(InvalidRequest, match="no earlier active version"):
        registry.rollback("memes")
    with pytest.raises(NotFound, match="no version 9"):
        registry.activate("memes", 9)
    (tmp_path / "a" / "config.json").write_text("changed")  # the registry keeps its copy
    assert (registry.get("memes").version(1).path / "config.json").read_text() == '{"name": "a"}'


def test_names_unknown_models_and_removal(tmp_path):
    registry = FusionRegistry(tmp_path / "data")
    with pytest.raises(InvalidRequest, match="lowercase"):
        registry.register("Not OK", artifact(tmp_path, "a"), summary={})
    with pytest.raises(NotFound, match="none registered"):
        registry.get("memes")
    registry.register("memes", tmp_path / "a", summary={})
    registry.remove("memes")
    assert registry.entries() == []
    assert not (tmp_path / "data" / "fusion" / "models" / "memes").exists()


def test_an_aligned_registry_names_its_kind_in_errors_and_ids(tmp_path):
    registry = FusionRegistry(tmp_path, "aligned")
    with pytest.raises(InvalidRequest) as caught:
        registry.register("Shapes", tmp_path, summary={})
    assert "not a valid aligned model name" in caught.value.message
    with pytest.raises(NotFound) as missing:
        registry.get("shapes")
    assert missing.value.message.startswith("aligned model 'shapes' is not registered")
    assert not (tmp_path / "fusion").exists()  # its own folder, beside fusion's
