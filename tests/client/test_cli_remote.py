"""`mmserve jobs ...` and `mmserve search --url` against a live server (the app behind
werkzeug's server on a loopback port, in a thread)."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from mmserve.cli import main


@pytest.fixture
def url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_start_a_job_follow_it_then_search_through_the_server(url):
    params = json.dumps({"path": "notes", "collection": "notes"})
    started = run("jobs", "start", "index", "--params", params, "--url", url)
    assert started.exit_code == 0, started.output
    job_id = started.output.split()[1]
    result = json.loads(started.output[started.output.index("{") :])
    assert result["indexed"] == 5
    listed = run("jobs", "list", "--url", url)
    assert job_id in listed.output and "succeeded" in listed.output
    shown = json.loads(run("jobs", "show", job_id, "--url", url).output)
    assert shown["state"] == "succeeded" and shown["progress"] == {"done": 5, "total": 5}

    found = run("search", "notes", "note number 3", "-k", "2", "--url", url)
    assert found.exit_code == 0, found.output
    lines = found.output.splitlines()
    assert lines[0].split()[:4] == ["#", "score", "modality", "id"] and len(lines) == 3
    by_id = run("search", "notes", "3.txt", "--id", "--url", url)
    assert "3.txt" not in [line.split()[3] for line in by_id.output.splitlines()[1:]]


def test_server_errors_end_the_command_with_the_servers_message(url):
    missing = run("jobs", "cancel", "nope", "--url", url)
    assert missing.exit_code == 1
    assert "404 not_found: job 'nope' does not exist" in missing.output
    bad = run("jobs", "start", "index", "--params", '{"path": 1}', "--url", url)
    assert bad.exit_code == 1 and "422" in bad.output and "params.path" in bad.output
    down = run("jobs", "list", "--url", "http://127.0.0.1:9")
    assert down.exit_code == 1 and "cannot reach" in down.output
