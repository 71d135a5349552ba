"""The spool as a library: rotation, sealing, names, torn lines, short writes, the cap, locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import spool_support as support
from spool_support import line, make_spool, read_all, segment_files, settings_for

from wazuh_ocsf.errors import SpoolBusyError, SpoolError, SpoolFullError
from wazuh_ocsf.spool import store as spool_module
from wazuh_ocsf.spool.store import Segment, Spool, node_token, split_lines

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_append_then_seal_gives_the_lines_in_order(tmp_path):
    spool = make_spool(tmp_path / "spool")
    lines = [line(n) for n in range(5)]
    for item in lines:
        spool.append(item)
    active = spool.active_segment()
    assert active is not None and not active.sealed and active.size == sum(map(len, lines))
    sealed = spool.seal_active()
    assert sealed == Segment(active.path[: -len(".open")] + ".ndjson", active.name, active.size, True)
    assert spool.active_segment() is None
    assert spool.seal_active() is None  # nothing to seal
    assert Path(sealed.path).read_bytes() == b"".join(lines)


def test_segment_names_carry_node_time_and_sequence(tmp_path):
    spool = make_spool(tmp_path / "spool", node_name="manager 1/eu-west")
    before = int(time.time())
    spool.append(line(1))
    segment = spool.seal_active()
    node, stamp, sequence = segment.name.rsplit("-", 2)
    assert node == "manager_1_eu-west"
    assert sequence == "0000000000" and segment.sequence == 0
    assert before <= segment.created <= time.time()
    assert stamp == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(segment.created))


@pytest.mark.parametrize(
    ("node", "token"), [("a.b-c_d", "a.b-c_d"), ("wazuh/../x", "wazuh_.._x"), ("", "node"), ("..", "node"), ("é", "_")]
)
def test_node_token_keeps_only_safe_characters(node, token):
    assert node_token(node) == token


def test_rotation_by_size(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_bytes=1000)
    lines = [line(n, 300) for n in range(10)]
    for item in lines:
        spool.append(item)
    spool.seal_active()
    segments = spool.sealed_segments()
    # 300-byte lines, at most 1000 bytes per segment: 3 lines each, the last one has 1.
    assert [s.size for s in segments] == [len(lines[0]) * 3] * 3 + [len(lines[0])]
    assert [s.sequence for s in segments] == [0, 1, 2, 3]
    assert read_all(spool) == lines


def test_a_line_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_bytes=100)
    spool.append(line(1, 500))
    spool.append(line(2, 10))
    assert [s.size for s in spool.sealed_segments()] == [len(line(1, 500))]


def test_rotation_by_age(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_age=60)
    spool.append(line(1))
    active = spool.active_segment()
    # Make the active segment two minutes old (its age is in its name, not in a clock we wait on).
    old_stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 120))
    node, _stamp, sequence = active.name.rsplit("-", 2)
    os.rename(active.path, Path(active.path).with_name(f"{node}-{old_stamp}-{sequence}.open"))
    spool.append(line(2))
    sealed = spool.sealed_segments()
    assert [Path(s.path).read_bytes() for s in sealed] == [line(1)]
    assert Path(spool.active_segment().path).read_bytes() == line(2)


def test_age_zero_disables_rotation_by_age(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_age=0)
    spool.append(line(1))
    active = spool.active_segment()
    os.rename(active.path, active.path.replace(active.name.rsplit("-", 2)[1], "20000101T000000Z"))
    spool.append(line(2))
    assert spool.sealed_segments() == []


def test_segment_names_stay_unique_after_deletes(tmp_path):
    spool = make_spool(tmp_path / "spool")
    seen = set()
    for round_ in range(5):
        spool.append(line(round_))
        segment = spool.seal_active()
        assert segment.name not in seen
        seen.add(segment.name)
        spool.release(segment)  # the spool is now empty: only state/sequence remembers
    assert sorted(int(name.rsplit("-", 1)[1]) for name in seen) == [0, 1, 2, 3, 4]
    # A lost state file is recovered from the names still on disk.
    spool.append(line(9))
    kept = spool.seal_active()
    (tmp_path / "spool" / "state" / "sequence").unlink()
    spool.append(line(10))
    assert spool.seal_active().sequence == kept.sequence + 1


def test_sealed_segments_are_never_written_again(tmp_path):
    spool = make_spool(tmp_path / "spool")
    spool.append(line(1))
    sealed = spool.seal_active()
    content = Path(sealed.path).read_bytes()
    spool.append(line(2))
    spool.append(line(3))
    assert Path(sealed.path).read_bytes() == content
    assert spool.active_segment().name != sealed.name


def test_split_lines():
    assert split_lines(b"") == (b"", b"")
    assert split_lines(b"a\nb\n") == (b"a\nb\n", b"")
    assert split_lines(b"a\nb\n{\"torn") == (b"a\nb\n", b'{"torn')
    assert split_lines(b"only torn") == (b"", b"only torn")


def test_a_torn_last_line_is_ended_before_the_next_append(tmp_path):
    spool = make_spool(tmp_path / "spool")
    spool.append(line(1))
    active = spool.active_segment()
    with open(active.path, "ab") as handle:  # a writer killed in the middle of its line
        handle.write(line(2)[:15])
    spool.append(line(3))
    data = Path(spool.seal_active().path).read_bytes()
    assert data == line(1) + line(2)[:15] + b"\n" + line(3)
    decoded, bad = [], []
    for raw in split_lines(data)[0].splitlines():
        try:
            decoded.append(json.loads(raw)["n"])
        except ValueError:
            bad.append(raw)
    assert decoded == [1, 3]  # the neighbours survive
    assert bad == [line(2)[:15]]  # exactly one bad line, for the dead-letter directory


def test_a_sealed_segment_may_end_in_a_torn_tail(tmp_path):
    spool = make_spool(tmp_path / "spool")
    spool.append(line(1))
    with open(spool.active_segment().path, "ab") as handle:
        handle.write(b'{"torn')
    assert split_lines(Path(spool.seal_active().path).read_bytes()) == (line(1), b'{"torn')


KILL_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from spool_support import make_spool
    from pathlib import Path
    spool = make_spool(Path(sys.argv[1]), segment_max_bytes="1G")
    n = 0
    payload = "y" * (4 * 1024 * 1024)
    while True:
        spool.append(('{"n":%d,"pad":"%s"}\\n' % (n, payload)).encode())
        n += 1
        if n == 1:
            print("started", flush=True)
    """
)


def test_kill_9_mid_append_leaves_at_most_one_torn_line(tmp_path):
    spool_dir = tmp_path / "spool"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILL_WRITER, str(spool_dir), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert writer.stdout.readline() == b"started\n"
    time.sleep(0.2)  # let it be busy writing 4 MiB lines
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    spool = make_spool(spool_dir)
    spool.append(b'{"n":"after"}\n')
    data = Path(spool.seal_active().path).read_bytes()
    complete, tail = split_lines(data)
    assert tail == b""
    numbers, bad = [], 0
    for raw in complete.splitlines():
        try:
            numbers.append(json.loads(raw)["n"])
        except ValueError:
            bad += 1
    assert bad <= 1
    assert numbers[-1] == "after"
    assert numbers[:-1] == list(range(len(numbers) - 1))  # no complete line lost or reordered


SHORT_WRITER = textwrap.dedent(
    """
    import resource, signal, sys
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from spool_support import make_spool
    from wazuh_ocsf.errors import SpoolError
    spool = make_spool(Path(sys.argv[1]), segment_max_bytes="1G")
    spool.append(b'{"n":1}\\n')
    size = spool.active_segment().size
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))
    try:
        spool.append(b'{"n":2,"pad":"' + b"z" * 1000 + b'"}\\n')
    except SpoolError as exc:
        print("SpoolError:", exc)
    """
)


def test_a_short_write_is_truncated_back_and_reported(tmp_path):
    spool_dir = tmp_path / "spool"
    result = subprocess.run(
        [sys.executable, "-c", SHORT_WRITER, str(spool_dir), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    assert result.stdout.startswith("SpoolError: cannot append to spool segment ")
    assert "short write" in result.stdout or "file size limit" in result.stdout
    spool = make_spool(spool_dir)
    assert Path(spool.active_segment().path).read_bytes() == b'{"n":1}\n'  # nothing half-written remains


def _mount_tiny_tmpfs(path: Path) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)]
    return subprocess.run(mount, capture_output=True, check=False).returncode == 0


def test_a_full_disk_is_a_spool_error_and_leaves_no_partial_line(tmp_path):
    mount = tmp_path / "tiny"
    if not _mount_tiny_tmpfs(mount):
        pytest.skip("needs root and permission to mount a tmpfs (the RLIMIT_FSIZE test covers short writes)")
    try:
        spool = make_spool(mount / "spool", segment_max_bytes="1G")
        written = 0
        with pytest.raises(SpoolError, match=r"no space left on the device|short write"):
            for n in range(100000):
                spool.append(line(n, 1000))
                written += 1
        data = Path(spool.active_segment().path).read_bytes()
        assert data == b"".join(line(n, 1000) for n in range(written))
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_cap_refuse_counts_and_keeps_everything(tmp_path):
    spool = make_spool(tmp_path / "spool", spool_max_bytes=1000, segment_max_bytes=400)
    accepted = []
    refused = 0
    for n in range(20):
        try:
            spool.append(line(n, 100))
            accepted.append(line(n, 100))
        except SpoolFullError as exc:
            assert "WAZUH_OCSF_SPOOL_MAX_BYTES=1000" in str(exc)
            refused += 1
    assert len(accepted) == 1000 // len(line(0, 100)) and refused == 20 - len(accepted)
    stats = spool.stats()
    assert stats["refused_events"] == refused
    assert stats["dropped_segments"] == 0
    assert read_all(spool) == accepted  # nothing unsent was deleted


def test_cap_drop_oldest_deletes_oldest_segments_and_counts_them(tmp_path):
    spool = make_spool(tmp_path / "spool", spool_max_bytes=1000, segment_max_bytes=300, spool_full_policy="drop-oldest")
    lines = [line(n, 100) for n in range(20)]
    for item in lines:
        spool.append(item)
    kept = read_all(spool)
    assert sum(map(len, kept)) <= 1000
    assert kept == lines[-len(kept) :]  # the newest survive, in order
    stats = spool.stats()
    assert stats["refused_events"] == 0
    assert stats["dropped_events"] == len(lines) - len(kept)
    assert stats["dropped_segments"] == stats["dropped_events"] // 3 + (stats["dropped_events"] % 3 > 0)


def test_a_line_bigger_than_the_cap_is_refused_even_under_drop_oldest(tmp_path):
    spool = make_spool(tmp_path / "spool", spool_max_bytes=100, spool_full_policy="drop-oldest")
    spool.append(line(1))
    with pytest.raises(SpoolFullError):
        spool.append(line(2, 500))
    assert read_all(spool) == [line(1)]


def test_lock_held_elsewhere_gives_the_line_a_segment_of_its_own(tmp_path):
    spool_dir = tmp_path / "spool"
    spool = make_spool(spool_dir, lock_timeout=0.05)
    spool.append(line(1))
    with support.lock_held_elsewhere(spool_dir / ".lock"):
        written = spool.append(line(2))
        assert written.endswith(".ndjson") and f"-p{os.getpid()}x" in written
        assert [Path(s.path).read_bytes() for s in spool.sealed_segments()] == [line(2)]
        assert not [name for name in segment_files(spool_dir) if name.startswith(".tmp-")]
        with pytest.raises(SpoolBusyError, match="stayed busy"):
            spool.seal_active(timeout=0.05)
    assert sorted(read_all(spool)) == sorted([line(1), line(2)])


def test_filelock_and_fcntl_share_the_lock(tmp_path):
    filelock = pytest.importorskip("filelock")
    spool_dir = tmp_path / "spool"
    spool = make_spool(spool_dir, lock_timeout=0.02)
    with filelock.UnixFileLock(str(spool_dir / ".lock")):
        assert spool.append(line(1)).endswith(".ndjson")  # could not lock: own segment
    assert spool.append(line(2)).endswith(".open")


def test_flush_lock_admits_one_flusher(tmp_path):
    spool = make_spool(tmp_path / "spool")
    other = make_spool(tmp_path / "spool")
    with spool.flush_lock(), pytest.raises(SpoolBusyError, match="another flusher holds"):
        other.flush_lock().__enter__()
    with other.flush_lock():
        pass


def test_release_deletes_or_archives(tmp_path):
    spool = make_spool(tmp_path / "spool")
    spool.append(line(1))
    first = spool.seal_active()
    spool.release(first)
    assert not Path(first.path).exists()
    spool.release(first)  # already gone: fine (drop-oldest may have deleted it)

    archive = tmp_path / "archive"
    archiving = make_spool(tmp_path / "spool", archive_dir=archive, archive_retention="1h")
    archiving.append(line(2))
    second = archiving.seal_active()
    stale = archive / "node-1-20000101T000000Z-0000000099.ndjson"
    archive.mkdir()
    stale.write_bytes(line(0))
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    archiving.release(second)
    assert sorted(p.name for p in archive.iterdir()) == [second.name + ".ndjson"]
    assert (archive / (second.name + ".ndjson")).read_bytes() == line(2)
    archiving.append(line(3))
    with pytest.raises(SpoolError, match="not sealed"):
        archiving.release(archiving.active_segment())


def test_stats(tmp_path):
    spool = make_spool(tmp_path / "spool", segment_max_bytes=100)
    assert spool.stats() == {
        "directory": str(tmp_path / "spool"),
        "node": "node-1",
        "sealed_segments": 0,
        "active_segment": None,
        "bytes": 0,
        "cap_bytes": 2 * 1024**3,
        "full_policy": "refuse",
        "events": 0,
        "oldest_segment_time": None,
        "refused_events": 0,
        "dropped_segments": 0,
        "dropped_events": 0,
        "dead_letter_records": 0,
    }
    for n in range(3):
        spool.append(line(n, 60))
    stats = spool.stats()
    assert (stats["sealed_segments"], stats["events"], stats["bytes"]) == (2, 3, 3 * len(line(0, 60)))
    assert stats["active_segment"] == spool.active_segment().name
    assert stats["oldest_segment_time"] == spool.sealed_segments()[0].created


def test_missing_spool_directory_is_a_clear_error(tmp_path):
    spool = Spool(settings_for(tmp_path / "nowhere"))
    with pytest.raises(SpoolError, match=r"spool directory .*nowhere does not exist: run the installer"):
        spool.append(line(1))
    with pytest.raises(SpoolError, match="does not exist"):
        spool.sealed_segments()
    with pytest.raises(SpoolError, match="does not exist"):
        spool.flush_lock()
    assert not (tmp_path / "nowhere").exists()  # never created behind the administrator's back


def test_only_whole_lines_are_accepted(tmp_path):
    spool = make_spool(tmp_path / "spool")
    for bad in (b"no newline", b"two\nlines\n", b""):
        with pytest.raises(ValueError, match="exactly one line"):
            spool.append(bad)


NOBODY_APPEND = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    from pathlib import Path
    from spool_support import settings_for
    from wazuh_ocsf.errors import SpoolError
    from wazuh_ocsf.spool.store import Spool
    try:
        Spool(settings_for(Path(sys.argv[1]))).append(b'{"n":1}\\n')
    except SpoolError as exc:
        print("SpoolError:", exc)
    """
)


def test_a_spool_the_user_cannot_write_is_a_clear_error():
    python = support.python_for_nobody()
    if python is None:
        pytest.skip("needs root and an interpreter the user nobody may run")
    with support.world_readable_dir() as base:
        spool_dir = base / "spool"
        spool_dir.mkdir()  # owned by root, mode 0755: nobody may not write in it
        result = subprocess.run(
            [python, "-I", "-c", NOBODY_APPEND, str(spool_dir), str(Path(__file__).parent), str(REPO_ROOT)],
            capture_output=True,
            text=True,
            preexec_fn=support.as_nobody,
            timeout=30,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"SpoolError: cannot open the spool lock {spool_dir}/.lock: permission denied")


def _failing_fdatasync(fd):
    raise OSError(5, "Input/output error")


def test_a_failing_fsync_is_a_spool_error(tmp_path, monkeypatch):
    spool = make_spool(tmp_path / "spool", fsync="append")
    spool.append(line(1))  # the active segment exists; the next append fsyncs it
    monkeypatch.setattr(os, "fdatasync", _failing_fdatasync)
    with pytest.raises(SpoolError, match="Input/output error"):
        spool.append(line(2))
    with pytest.raises(SpoolError, match="Input/output error"):
        spool.append_many([line(3), line(4)])


def test_a_failing_directory_fsync_closes_the_new_segment(tmp_path, monkeypatch):
    spool = make_spool(tmp_path / "spool", fsync="append")
    opened = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(spool_module, "_fsync_dir", _failing_fdatasync)
    with pytest.raises(SpoolError, match="Input/output error"):
        spool.append(line(1))
    monkeypatch.undo()
    assert set(os.listdir("/proc/self/fd")) <= opened


def test_count_lines_counts_across_chunks_and_a_missing_file_is_zero(tmp_path):
    path = tmp_path / "lines"
    path.write_bytes(b"x" * ((1 << 20) - 1) + b"\n\n" + b"y\n" * 3 + b"torn")
    assert spool_module.count_lines(str(path)) == 5
    assert spool_module.count_lines(str(tmp_path / "absent")) == 0
