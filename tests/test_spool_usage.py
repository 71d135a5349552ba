"""An append costs the same whatever the backlog: ``state/usage`` instead of a directory scan.

The spool's behaviour (cap, rotation, refusal, release, crash repair) with 10,000 sealed
segments present, and proof that an append neither lists the segments nor stats a sealed one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from spool_support import line, lock_held_elsewhere, make_spool, read_all

from wazuh_ocsf.errors import SpoolFullError

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKLOG = 10_000
OLD = "node-1-20240101T000000Z-"


def add_backlog(spool_dir: Path, count: int = BACKLOG, size: int = 10) -> int:
    """``count`` sealed segments of ``size`` bytes, as a lake outage leaves them; their bytes."""
    segments = spool_dir / "segments"
    segments.mkdir(parents=True, exist_ok=True)
    data = b"x" * (size - 1) + b"\n"
    for number in range(count):
        (segments / f"{OLD}{number:010d}.ndjson").write_bytes(data)
    state = spool_dir / "state"
    state.mkdir(exist_ok=True)
    (state / "sequence").write_text(f"{count}\n")
    return count * size


def usage(spool_dir: Path) -> list:
    return (spool_dir / "state" / "usage").read_text().split()


class NoScan:
    """Fails the test when the spool lists the segments or stats a sealed one."""

    def __init__(self, monkeypatch) -> None:
        real_stat = os.stat
        self.stats = []

        def scandir(*args, **kwargs):
            raise AssertionError(f"the append listed a directory: {args}")

        def stat(path, *args, **kwargs):
            self.stats.append(str(path))
            assert not str(path).endswith(".ndjson"), f"the append stat'ed a sealed segment: {path}"
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "listdir", scandir)
        monkeypatch.setattr(os, "stat", stat)


def test_an_append_neither_lists_nor_stats_the_sealed_segments(tmp_path, monkeypatch):
    spool = make_spool(tmp_path / "spool", segment_max_bytes=250)
    backlog = add_backlog(tmp_path / "spool", count=50)
    spool.append(line(0))  # the first append after the upgrade builds the usage, once
    assert usage(tmp_path / "spool")[0] == str(backlog)
    NoScan(monkeypatch)
    for number in range(1, 20):  # rotations included: 250-byte segments
        spool.append(line(number))
    monkeypatch.undo()
    assert len(spool.sealed_segments()) >= 50 + 2  # it rotated without looking at them
    assert read_all(spool)[-20:] == [line(n) for n in range(20)]


def test_the_cap_is_exact_with_10000_sealed_segments(tmp_path, monkeypatch):
    spool_dir = tmp_path / "spool"
    backlog = add_backlog(spool_dir)
    room = 1000
    spool = make_spool(spool_dir, spool_max_bytes=backlog + room, segment_max_bytes=300)
    spool.seal_active()  # what the flusher does first: builds the usage from its scan
    NoScan(monkeypatch)
    accepted, refused = [], 0
    for number in range(30):
        try:
            spool.append(line(number, 100))
            accepted.append(line(number, 100))
        except SpoolFullError:
            refused += 1
    monkeypatch.undo()
    assert len(accepted) == room // len(line(0, 100)) and refused == 30 - len(accepted)
    assert spool.stats()["refused_events"] == refused
    assert read_all(spool)[BACKLOG:] == accepted  # rotated into 300-byte segments, in order
    per_segment = 300 // len(line(0, 100))
    assert len(spool.sealed_segments()) == BACKLOG + -(-len(accepted) // per_segment)


def test_release_keeps_the_count_exact_with_10000_sealed_segments(tmp_path):
    spool_dir = tmp_path / "spool"
    backlog = add_backlog(spool_dir)
    spool = make_spool(spool_dir, spool_max_bytes=backlog + 200)
    spool.append(line(1))
    oldest = spool.sealed_segments()[:3]
    for segment in oldest:
        spool.release(segment)
    assert usage(spool_dir)[0] == str(backlog - 30)
    spool.append(line(2))  # the 30 bytes freed are room again
    with pytest.raises(SpoolFullError):
        spool.append(line(3, 200))


def test_drop_oldest_with_10000_sealed_segments(tmp_path):
    spool_dir = tmp_path / "spool"
    backlog = add_backlog(spool_dir)
    spool = make_spool(spool_dir, spool_max_bytes=backlog, spool_full_policy="drop-oldest")
    spool.append(line(1))
    names = [s.name for s in spool.sealed_segments()]
    assert names[0] == f"{OLD}{len(line(1)) // 10 + 1:010d}"  # just enough of the oldest went
    assert spool.stats()["dropped_segments"] == len(line(1)) // 10 + 1
    assert int(usage(spool_dir)[0]) + len(line(1)) <= backlog


def test_rotation_and_sequence_continue_after_a_backlog(tmp_path):
    spool_dir = tmp_path / "spool"
    add_backlog(spool_dir)
    spool = make_spool(spool_dir, segment_max_bytes=100)
    for number in range(3):
        spool.append(line(number, 80))  # one line per 100-byte segment
    sealed = spool.sealed_segments()
    assert [s.sequence for s in sealed[-2:]] == [BACKLOG, BACKLOG + 1]
    assert spool.active_segment().sequence == BACKLOG + 2


# A process killed at each step of a change: the usage is gone, and the next holder of the lock
# recounts it from the directory.
KILLED = textwrap.dedent(
    """
    import os, sys
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    from pathlib import Path
    from spool_support import line, settings_for
    from wazuh_ocsf.spool import store as module
    step = sys.argv[4]
    owner = os if step.startswith("os.") else module.Spool
    name = step.rpartition(".")[2]
    real = getattr(owner, name)

    def killed(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(9)

    setattr(owner, name, killed)
    spool = module.Spool(settings_for(Path(sys.argv[1]), segment_max_bytes=int(sys.argv[5])))
    if sys.argv[6] == "release":
        spool.release(spool.sealed_segments()[0])
    else:
        spool.append(line(99))
    """
)


@pytest.mark.parametrize(
    ("step", "action"),
    [
        ("_forget_usage", "rotate"),  # usage removed, segment not yet sealed
        ("_seal", "rotate"),  # sealed, no new segment, no usage
        ("_next_sequence", "rotate"),  # a sequence number taken, no segment yet
        ("os.fsync", "rotate"),  # the old segment forced to disk before its sealing
        ("_forget_usage", "release"),  # usage removed, segment not yet released
        ("_remove", "release"),  # released, usage not yet written again
    ],
)
def test_a_process_killed_mid_change_leaves_an_exact_count(tmp_path, step, action):
    spool_dir = tmp_path / "spool"
    add_backlog(spool_dir, count=200)
    spool = make_spool(spool_dir, segment_max_bytes=100)
    spool.append(line(1))
    spool.append(line(2))  # 2 lines: the next one rotates
    result = subprocess.run(
        [sys.executable, "-c", KILLED, str(spool_dir), str(Path(__file__).parent), str(REPO_ROOT), step, "100", action],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 9, result.stderr
    spool.append(line(3))
    on_disk = sum(p.stat().st_size for p in (spool_dir / "segments").iterdir() if not p.name.startswith("."))
    sealed_bytes, stem = usage(spool_dir)
    active = spool.active_segment()
    assert stem == active.name
    assert int(sealed_bytes) + active.size == on_disk
    names = [s.name for s in spool.sealed_segments()] + [active.name]
    assert len(set(name.rsplit("-", 1)[1] for name in names)) == len(names)  # no sequence reused
    lines = read_all(spool)
    assert lines[-3:] == [line(1), line(2), line(3)]  # killed before its write: line 99 was never spooled
    assert len(lines) == 200 - (step == "_remove") + 3


def test_a_usage_naming_a_vanished_segment_is_rebuilt(tmp_path):
    spool_dir = tmp_path / "spool"
    spool = make_spool(spool_dir)
    spool.append(line(1))
    active = spool.active_segment()
    os.unlink(active.path)  # an operator deleted it by hand
    spool.append(line(2))
    assert usage(spool_dir) == ["0", spool.active_segment().name]
    assert read_all(spool) == [line(2)]


def test_segments_written_without_the_lock_are_counted(tmp_path):
    spool_dir = tmp_path / "spool"
    spool = make_spool(spool_dir, spool_max_bytes=3 * len(line(0)), lock_timeout=0.05)
    spool.append(line(1))
    with lock_held_elsewhere(spool_dir / ".lock"):
        own = spool.append(line(2))
        assert own.endswith(".ndjson")
        assert (spool_dir / "state" / "own").read_text() == f"{len(line(2))} {os.path.basename(own)}\n"
    spool.append(line(3))  # folds state/own into the usage
    assert not (spool_dir / "state" / "own").exists()
    assert int(usage(spool_dir)[0]) == len(line(2))
    with pytest.raises(SpoolFullError):
        spool.append(line(4))
    assert sorted(read_all(spool)) == sorted([line(1), line(2), line(3)])


def test_an_upgraded_spool_without_usage_keeps_its_count(tmp_path):
    spool_dir = tmp_path / "spool"
    backlog = add_backlog(spool_dir, count=100)  # written by the previous release: no usage
    spool = make_spool(spool_dir, spool_max_bytes=backlog + 60)
    assert not (spool_dir / "state" / "usage").exists()
    spool.append(line(1, 50))
    assert usage(spool_dir)[0] == str(backlog)
    with pytest.raises(SpoolFullError):
        spool.append(line(2, 50))
