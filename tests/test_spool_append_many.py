"""``Spool.append_many``: the batch append of follow and backfill (standard library only)."""

from __future__ import annotations

import os

import pytest
from spool_support import line, make_spool, read_all

from wazuh_ocsf.errors import SpoolBusyError, SpoolFullError


def test_batch_keeps_order_and_rotates_by_size(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_bytes="1k", segment_max_age="0")
    spool.append(line(0, 100))
    lines = [line(n, 100) for n in range(1, 40)]
    written = spool.append_many(lines)
    assert len(written) >= 4  # about 10 lines of 100 bytes per 1 KiB segment
    sizes = [s.size for s in spool.sealed_segments()] + [spool.active_segment().size]
    assert max(sizes) <= 1024
    assert read_all(spool) == [line(0, 100), *lines]


def test_a_torn_line_left_by_a_killed_writer_stays_one_bad_line(tmp_path):
    spool = make_spool(tmp_path / "spool")
    path = spool.append(line(1))
    with open(path, "ab") as handle:
        handle.write(b'{"class_uid":2001,"n":')  # a hook killed mid-write
    spool.append_many([line(2), line(3)])
    assert read_all(spool) == [line(1), b'{"class_uid":2001,"n":\n', line(2), line(3)]


def test_the_cap_is_checked_for_the_whole_batch(tmp_path):
    spool = make_spool(tmp_path / "spool", spool_max_bytes="1k")
    spool.append_many([line(n, 100) for n in range(5)])
    with pytest.raises(SpoolFullError, match="is full"):
        spool.append_many([line(n, 100) for n in range(5, 11)])
    assert len(read_all(spool)) == 5  # nothing of the refused batch was written


def test_drop_oldest_makes_room_for_the_batch(tmp_path):
    spool = make_spool(tmp_path / "spool", spool_max_bytes="1k", segment_max_bytes="300",
                       spool_full_policy="drop-oldest")
    spool.append_many([line(n, 100) for n in range(9)])
    spool.append_many([line(n, 100) for n in range(9, 13)])
    kept = read_all(spool)
    assert kept[-4:] == [line(n, 100) for n in range(9, 13)]
    assert sum(len(x) for x in kept) <= 1024


def test_busy_lock_waits_then_raises(tmp_path):
    import fcntl

    spool = make_spool(tmp_path / "spool")
    fd = os.open(os.path.join(spool.directory, ".lock"), os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(SpoolBusyError, match=r"stayed busy for 0\.05 s"):
            spool.append_many([line(1)], timeout=0.05)
    finally:
        os.close(fd)
    assert spool.append_many([]) == []


def test_lines_must_be_single_lines(tmp_path):
    spool = make_spool(tmp_path / "spool")
    with pytest.raises(ValueError, match="exactly one line"):
        spool.append_many([line(1), b'{"a":1}'])
    with pytest.raises(ValueError, match="exactly one line"):
        spool.append_many([b'{"a":1}\n{"b":2}\n'])
    assert spool.active_segment() is None
