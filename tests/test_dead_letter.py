"""The dead-letter directory: rejected bytes are kept whole, with why and where, and read back."""

from __future__ import annotations

import base64
import calendar
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.spool import dead_letter

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_record_writes_one_json_line_with_the_original_bytes(tmp_path):
    data = b'{"rule": \xff\xfe truncated'
    before = time.time()
    reason = "alert is not valid UTF-8"
    path = dead_letter.record(str(tmp_path), reason=reason, source="/tmp/a.alert", data=data, node="mgr/1")
    after = time.time()
    days = {time.strftime("%Y%m%d", time.gmtime(when)) for when in (before, after)}  # the call may span UTC midnight
    assert path in {str(tmp_path / "dead-letter" / f"mgr_1-{day}.ndjson") for day in days}
    (raw,) = Path(path).read_bytes().splitlines()
    item = json.loads(raw)
    assert item.pop("data_b64") == base64.b64encode(data).decode()  # what an operator's base64 -d reads
    stamp = item.pop("time")
    assert stamp.endswith("Z") and len(stamp) == len("2024-04-22T14:20:46.976Z")
    assert int(before) - 1 <= calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) <= after
    assert item == {"reason": "alert is not valid UTF-8", "source": "/tmp/a.alert", "node": "mgr/1"}


def test_iter_records_reads_back_every_record_and_keeps_unreadable_ones(tmp_path):
    spool = str(tmp_path)
    dead_letter.record(spool, reason="one", source="a", data=b"\x00\x01", node="n1")
    dead_letter.record(spool, reason="two", source="b", data=b"", node="n1")
    path = dead_letter.record(spool, reason="three", source="c", data="é".encode(), node="n2")
    with open(path, "ab") as handle:
        handle.write(b'{"time": "torn by a cra')  # a record cut by a crash
    records = list(dead_letter.iter_records(spool))
    for record in records:
        record.pop("time")
    day = time.strftime("%Y%m%d", time.gmtime())
    n1 = str(tmp_path / "dead-letter" / f"n1-{day}.ndjson")
    assert records == [
        {"reason": "one", "source": "a", "node": "n1", "data": b"\x00\x01", "file": n1, "line": 1},
        {"reason": "two", "source": "b", "node": "n1", "data": b"", "file": n1, "line": 2},
        {"reason": "three", "source": "c", "node": "n2", "data": "é".encode(), "file": path, "line": 1},
        {
            "reason": "unreadable dead-letter record",
            "source": path,
            "node": None,
            "data": b'{"time": "torn by a cra',
            "file": path,
            "line": 2,
        },
    ]
    assert dead_letter.count(spool) == 3  # the torn record has no newline yet


def test_files_are_ordered_by_day(tmp_path):
    directory = tmp_path / "dead-letter"
    directory.mkdir()
    for name in ("b-20240102.ndjson", "a-20240103.ndjson", "z-20231231.ndjson", ".tmp-x.ndjson", "notes.txt"):
        (directory / name).write_bytes(b"")
    assert [Path(p).name for p in dead_letter.files(str(tmp_path))] == [
        "z-20231231.ndjson",
        "b-20240102.ndjson",
        "a-20240103.ndjson",
    ]


def test_a_missing_spool_directory_is_a_spool_error(tmp_path):
    with pytest.raises(SpoolError, match=r"cannot write the dead-letter record .*nowhere/dead-letter/n-\d{8}\.ndjson"):
        dead_letter.record(str(tmp_path / "nowhere"), reason="r", source="s", data=b"x", node="n")
    assert dead_letter.count(str(tmp_path / "nowhere")) == 0
    assert list(dead_letter.iter_records(str(tmp_path / "nowhere"))) == []


WRITER = textwrap.dedent(
    """
    import sys
    from wazuh_ocsf.spool import dead_letter
    for n in range(200):
        dead_letter.record(sys.argv[1], reason=sys.argv[2], source=str(n), data=sys.argv[2].encode() * 3000, node="n")
    """
)


def test_concurrent_writers_never_interleave(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"writer{w}"], env=env) for w in range(4)
    ]
    assert [w.wait() for w in writers] == [0] * 4
    records = list(dead_letter.iter_records(str(tmp_path)))
    assert len(records) == 800
    for record in records:
        assert record["data"] == record["reason"].encode() * 3000
    assert sorted((r["reason"], int(r["source"])) for r in records) == sorted(
        (f"writer{w}", n) for w in range(4) for n in range(200)
    )
