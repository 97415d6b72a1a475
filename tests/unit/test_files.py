import os
import stat

import pytest

from mmserve.files import (
    UnusablePath,
    confined,
    replaced_atomically,
    replaced_dir_atomically,
    write_atomically,
)


def test_write_atomically_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "sub" / "data.bin"
    write_atomically(path, b"first")
    write_atomically(path, lambda file: file.write(b"second"), mode=0o644)
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["data.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def fail(file):
        file.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(path, fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_replaced_atomically_hands_out_a_path_for_writers_that_take_one(tmp_path):
    path = tmp_path / "model.onnx"
    with replaced_atomically(path) as temporary:
        assert temporary.parent == tmp_path and temporary != path
        temporary.write_text("graph")
    assert path.read_text() == "graph"


def test_a_staged_folder_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), replaced_dir_atomically(target) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("export failed")
    assert sorted(os.listdir(tmp_path)) == ["artifact"]
    assert os.listdir(target) == ["old.txt"]
    with replaced_dir_atomically(target) as staging:
        (staging / "new.txt").write_text("new")
    assert os.listdir(target) == ["new.txt"]


def test_confined_keeps_a_client_path_inside_the_roots(tmp_path):
    root, other, outside = tmp_path / "root", tmp_path / "other", tmp_path / "outside"
    for folder in (root, other, outside):
        folder.mkdir()
    (root / "link").symlink_to(outside)
    assert confined("a/../b.png", [root]) == root / "b.png"
    assert confined(str(other / "x"), [root, other]) == other / "x"  # absolute: any root
    assert confined("../outside/x", [root]) is None
    assert confined("link/x", [root]) is None  # a symlink out is followed, then refused
    assert confined(str(other / "x"), [root]) is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "is empty"),
        ("a\x00b", "NUL"),
        ("a/" * 600, "characters long"),
        ("x" * 256, "longer than 255 bytes"),
        ("\ud800.png", "lone surrogate"),
    ],
)
def test_confined_refuses_text_that_is_no_path_before_any_system_call(tmp_path, raw, why):
    with pytest.raises(UnusablePath, match=why):
        confined(raw, [tmp_path])


def test_confined_reports_a_symlink_loop_as_unusable(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UnusablePath, match="invalid"):
        confined("loop/x", [tmp_path])
