"""The audit log's file: JSON lines, rotated by size into numbered backups."""

from __future__ import annotations

import json

from mmserve.services.audit import AuditLog


def test_each_record_is_one_json_line_readable_before_close(tmp_path):
    log = AuditLog(tmp_path)
    log.write({"who": "alice", "status": 200, "model": None})
    log.write({"who": "bob", "status": 401, "model": "fake"})
    lines = (tmp_path / "audit.log").read_text().splitlines()  # flushed per line
    assert [json.loads(line) for line in lines] == [
        {"who": "alice", "status": 200, "model": None},
        {"who": "bob", "status": 401, "model": "fake"},
    ]
    log.close()


def test_a_line_that_would_pass_the_size_rotates_and_the_oldest_backup_goes(tmp_path):
    log = AuditLog(tmp_path, max_bytes=40, backups=2)
    for number in range(4):  # each line is 32 bytes: one per file
        log.write({"n": number, "pad": "x" * 15})
    log.close()
    read = {
        name: [json.loads(line)["n"] for line in (tmp_path / name).read_text().splitlines()]
        for name in ("audit.log", "audit.log.1", "audit.log.2")
    }
    assert read == {"audit.log": [3], "audit.log.1": [2], "audit.log.2": [1]}
    assert not (tmp_path / "audit.log.3").exists()


def test_a_reopened_log_appends_and_counts_the_size_already_there(tmp_path):
    first = AuditLog(tmp_path, max_bytes=70, backups=1)
    first.write({"n": 0, "pad": "x" * 15})
    first.close()
    second = AuditLog(tmp_path, max_bytes=70, backups=1)
    second.write({"n": 1, "pad": "x" * 15})  # 64 bytes: fits
    second.write({"n": 2, "pad": "x" * 15})  # 96: rotates
    second.close()
    assert (tmp_path / "audit.log.1").read_text().count("\n") == 2
    assert json.loads((tmp_path / "audit.log").read_text()) == {"n": 2, "pad": "x" * 15}
