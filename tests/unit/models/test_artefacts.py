import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from mmserve.models.artefacts import onnx_session, produce_again, produce_once


def slow_writer(calls: list[str], text: str = "whole", pause_s: float = 0.05):
    def write(temporary: Path) -> None:
        calls.append(temporary.name)
        temporary.write_text(text[:2])
        time.sleep(pause_s)  # a reader without the lock would see a part here
        temporary.write_text(text)

    return write


def test_threads_asking_at_once_get_one_write_and_the_whole_file(tmp_path):
    path = tmp_path / "cache" / "artefact.bin"
    calls: list[str] = []
    seen: list[str] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        seen.append(produce_once(path, slow_writer(calls)).read_text())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and seen == ["whole"] * 8
    assert sorted(p.name for p in path.parent.iterdir()) == ["artefact.bin", "artefact.bin.lock"]


def test_processes_asking_at_once_get_one_write(tmp_path):
    path = tmp_path / "artefact.txt"
    log = tmp_path / "writes.log"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from mmserve.models.artefacts import produce_once

        def write(temporary):
            with open({str(log)!r}, "a") as log:
                log.write("write\\n")
            time.sleep(0.3)
            temporary.write_text("made")

        print(produce_once(Path({str(path)!r}), write).read_text())
    """)
    runs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert outputs == ["made"] * 3
    assert log.read_text() == "write\n"


def test_a_failed_write_leaves_no_file_and_the_next_caller_writes(tmp_path):
    path = tmp_path / "artefact.bin"

    def broken(temporary: Path) -> None:
        temporary.write_text("half")
        raise RuntimeError("exporter crashed")

    try:
        produce_once(path, broken)
    except RuntimeError:
        pass
    assert not path.exists() and not list(tmp_path.glob("*.tmp"))
    calls: list[str] = []
    assert produce_once(path, slow_writer(calls)).read_text() == "whole" and len(calls) == 1


def test_produce_again_replaces_a_bad_file_once_for_loaders_that_found_it_together(tmp_path):
    path = tmp_path / "artefact.bin"
    path.write_text("truncat")
    calls: list[str] = []
    # The second must look at the file while the first still writes (then it sees the same
    # bad file): a long write keeps that window open on a loaded machine, where 50 ms was
    # once not enough and the second saw the first's finished file as the bad one.
    first = threading.Thread(target=produce_again, args=(path, slow_writer(calls, pause_s=1.0)))
    first.start()
    while not calls:  # until the first is writing
        time.sleep(0.001)
    assert produce_again(path, slow_writer(calls)).read_text() == "whole"
    first.join()
    assert len(calls) == 1


def tiny_graph(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_models_running_one_graph_share_its_session(tmp_path):
    import onnxruntime as ort

    builds: list[Path] = []

    def build(path: Path) -> ort.InferenceSession:
        builds.append(path)
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    path = tiny_graph(tmp_path / "g.onnx")
    first, second = onnx_session(path, build), onnx_session(path, build)
    assert first is second and len(builds) == 1
    other = onnx_session(tiny_graph(tmp_path / "h.onnx"), build)
    assert other is not first and len(builds) == 2
