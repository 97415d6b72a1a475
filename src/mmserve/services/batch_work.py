"""A batch's work: run its input lines one by one, and the two files its results go to.

Exactly once across crashes. The output and error files ARE the commit log: a line counts
as done when its result line is in one of them, whole. Each result line is one write of
the whole line to a file opened for appending, and carries the input line's number in its
`id` (`batch_req_<batch>_<line>`), so a resumed batch reads both files, cuts a torn last
line (a write a crash interrupted), and skips the lines it finds. The job's progress
counter is only a display: were it the record, a crash between writing a result and saving
the counter would run that line twice.

The lines follow OpenAI's batch format:
    input   {"custom_id": "r1", "method": "POST", "url": "/v1/embeddings", "body": {...}}
    output  {"id": "batch_req_..", "custom_id": "r1",
             "response": {"status_code": 200, "request_id": "..", "body": {...}}, "error": null}
A line the server answered with a 4xx/5xx goes to the error file with its response; a line
that cannot be run (not JSON, no custom_id, another url) goes there with `error` set and
`response` null. Either way only that line fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT_FILE = "output.jsonl"
ERROR_FILE = "errors.jsonl"
# (method, url, body) -> (HTTP status, JSON body, request id)
Dispatch = Callable[[str, str, dict[str, Any]], tuple[int, Any, str | None]]


@dataclass(frozen=True)
class LineResult:
    line: int
    record: dict[str, Any]  # the output/error line, OpenAI's shape
    ok: bool


def input_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, text) of every non-blank line of a JSONL file."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, raw


def count_input_lines(path: Path) -> int:
    return sum(1 for _ in input_lines(path))


def run_line(
    batch_id: str, number: int, raw: bytes, endpoint: str, dispatch: Dispatch
) -> LineResult:
    """Run one input line through `dispatch`; never raises for a bad line."""
    request_id = f"batch_req_{batch_id}_{number}"
    try:
        line = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return _failed(request_id, number, None, "invalid_json_line", f"line {number}: {e}")
    if not isinstance(line, dict):
        return _failed(request_id, number, None, "invalid_line", f"line {number}: not an object")
    custom_id = line.get("custom_id")
    problem = _line_problem(line, endpoint)
    if problem is not None:
        code, message = problem
        custom = custom_id if isinstance(custom_id, str) else None
        return _failed(request_id, number, custom, code, f"line {number}: {message}")
    status, body, server_request_id = dispatch("POST", endpoint, line["body"])
    record = {
        "id": request_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": server_request_id, "body": body},
        "error": None,
    }
    return LineResult(number, record, ok=200 <= status < 300)


def _line_problem(line: dict[str, Any], endpoint: str) -> tuple[str, str] | None:
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_custom_id", "custom_id must be a non-empty string"
    if line.get("method", "POST") != "POST":
        return "invalid_method", f"method must be POST, got {line.get('method')!r}"
    if line.get("url") != endpoint:
        url = line.get("url")
        return "mismatched_url", f"url must be the batch's endpoint {endpoint!r}, got {url!r}"
    if not isinstance(line.get("body"), dict):
        return "invalid_body", "body must be a JSON object (the request to send)"
    return None


def _failed(
    request_id: str, number: int, custom_id: str | None, code: str, message: str
) -> LineResult:
    record = {
        "id": request_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
    return LineResult(number, record, ok=False)


class BatchResults:
    """The output and error files of one batch, in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.output = self.folder / OUTPUT_FILE
        self.errors = self.folder / ERROR_FILE

    def recover(self) -> set[int]:
        """The input line numbers already done; cuts a torn last line from either file."""
        done: set[int] = set()
        for path in (self.output, self.errors):
            _cut_torn_tail(path)
            if path.exists():
                with path.open("rb") as handle:
                    done.update(_line_number(raw) for raw in handle)
        return done

    def append(self, result: LineResult) -> None:
        path = self.output if result.ok else self.errors
        data = json.dumps(result.record, separators=(",", ":")).encode() + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)  # one write: a crash leaves the line whole or cut, never mixed
        finally:
            os.close(fd)

    def sync(self) -> None:
        """fsync both files: results survive a power cut, not only a killed process."""
        for path in (self.output, self.errors):
            if path.exists():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def counts(self) -> tuple[int, int]:
        """(completed, failed) lines so far."""
        return _count_lines(self.output), _count_lines(self.errors)


def _line_number(raw: bytes) -> int:
    return int(json.loads(raw)["id"].rsplit("_", 1)[1])


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        handle.truncate(data.rfind(b"\n") + 1)


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
