"""The batch result files as a commit log: recover() finds the done lines, cuts a torn one."""

from __future__ import annotations

import json

from mmserve.services.batch_work import BatchResults, input_lines, run_line


def echo(method, url, body):
    return (200, {"echo": body}, "req-1") if body.get("ok") else (422, {"error": {}}, "req-2")


def line(custom_id, ok=True):
    body = {"ok": ok}
    return json.dumps({"custom_id": custom_id, "url": "/v1/x", "body": body}).encode()


def test_results_go_to_the_right_file_and_recover_finds_them(tmp_path):
    results = BatchResults(tmp_path / "b")
    for number, raw in ((1, line("a")), (2, line("b", ok=False)), (4, b"[1]")):
        results.append(run_line("batch_x", number, raw, "/v1/x", echo))
    assert results.counts() == (1, 2)
    assert results.recover() == {1, 2, 4}
    output = json.loads(results.output.read_text())
    assert output["id"] == "batch_req_batch_x_1" and output["custom_id"] == "a"
    assert output["response"] == {
        "status_code": 200,
        "request_id": "req-1",
        "body": {"echo": {"ok": True}},
    }


def test_a_torn_last_line_is_cut_and_counts_as_not_done(tmp_path):
    results = BatchResults(tmp_path / "b")
    results.append(run_line("batch_x", 1, line("a"), "/v1/x", echo))
    whole = results.output.read_bytes()
    with results.output.open("ab") as handle:
        handle.write(b'{"id":"batch_req_batch_x_2","custom_id":"b","resp')  # a crash mid-write
    assert results.recover() == {1}
    assert results.output.read_bytes() == whole
    results.append(run_line("batch_x", 2, line("b"), "/v1/x", echo))
    assert results.recover() == {1, 2} and results.counts() == (2, 0)


def test_input_lines_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \n{"b": 2}')
    assert [number for number, _ in input_lines(path)] == [1, 4]
