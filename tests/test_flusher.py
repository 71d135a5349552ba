from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from flush_support import (
    corpus_events,
    make_events,
    make_settings,
    settings_env,
    spool_events,
    tree_uids,
    uid_of,
    varied,
)
from ops_support import cli

from wazuh_ocsf.errors import ConfigError, SinkError, SpoolBusyError
from wazuh_ocsf.flush import manifest as manifests
from wazuh_ocsf.flush.arrow_schema import schema_for
from wazuh_ocsf.flush.delivered_index import DeliveredIndex
from wazuh_ocsf.flush.flusher import flush, sink_id
from wazuh_ocsf.sinks.base import Sink
from wazuh_ocsf.sinks.local import LocalSink
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.line import encode_event
from wazuh_ocsf.spool.store import Spool

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY_MS = 86_400_000
SEGMENT = "40K"  # small segments: every test spool has several
BATCH_BYTES = 100_000  # a block size that makes several batches of such segments

# The README's example query (events by severity and day, top rules).
README_QUERY_SEVERITY = """
SELECT eventDay, severity, count(*) AS events
FROM read_parquet('{root}/ext/wazuh/**/*.parquet', hive_partitioning = true)
GROUP BY eventDay, severity
ORDER BY eventDay, events DESC
"""
README_QUERY_RULES = """
SELECT analytic.uid AS rule_id, analytic.name AS rule, count(*) AS events
FROM read_parquet('{root}/ext/wazuh/**/*.parquet', hive_partitioning = true)
GROUP BY rule_id, rule
ORDER BY events DESC, rule_id
LIMIT 10
"""


class FlakySink(Sink):
    """A sink that fails on demand and counts what it stores."""

    name = "flaky"

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls = 0
        self.names: list = []

    def describe(self) -> str:
        return "flaky:test"

    def deliver(self, objects) -> None:
        self.calls += 1
        if self.fail:
            raise SinkError("Failed to upload to flaky:test: connection refused")
        self.names.extend(obj.name for obj in objects)


class CountingLocalSink(LocalSink):
    """The local sink, counting deliver() calls."""

    def __init__(self, settings, output_dir) -> None:
        super().__init__(settings, output_dir)
        self.calls = 0

    def deliver(self, objects) -> None:
        self.calls += 1
        super().deliver(objects)


def run_cli(tmp_path: Path, *args: str, env: dict | None = None, **extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "logs").mkdir(exist_ok=True)  # the CLI's log file: <home>/logs/wazuh-ocsf.log
    environ = dict(os.environ)
    environ.update(settings_env(tmp_path, **{"segment_max_bytes": SEGMENT, **extra}))
    environ.update(env or {})
    return cli(*args, env=environ)


def assert_spool_drained(settings) -> None:
    spool = Spool(settings)
    assert spool.sealed_segments() == []
    assert spool.active_segment() is None
    assert manifests.segment_names(settings.spool_dir) == []
    outgoing = Path(settings.spool_dir) / "outgoing"
    assert not outgoing.exists() or list(outgoing.iterdir()) == []


def assert_exactly_once(output_dir: Path, events) -> None:
    counts = collections.Counter(tree_uids(output_dir))
    assert counts == collections.Counter(uid_of(event) for event in events)
    assert set(counts.values()) == {1}


def test_flush_delivers_every_event_once_as_one_hive_partitioned_dataset(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    security = make_events(240, days=3)
    detection = [varied(e, f"d{i}", time_ms=1713744000000 + i * 1000) for i, e in enumerate(corpus_events(2004) * 2)]
    spool_events(settings, security[:100] + detection + security[100:])
    sealed = len(Spool(settings).sealed_segments()) + 1  # + the active one the flush seals
    out = tmp_path / "lake"

    result = flush(settings, [LocalSink(settings, out)])

    assert result.ok, result.failures
    events = len(security) + len(detection)
    assert (result.segments, result.events, result.left, result.failures) == (sealed, events, 0, [])
    assert result.objects == len(list(out.rglob("*.parquet")))
    assert result.bytes == sum(p.stat().st_size for p in out.rglob("*.parquet"))
    assert_exactly_once(out, security + detection)
    assert_spool_drained(settings)

    # One class per source tree, one dataset per tree, partitions from the path.
    for source, class_uid, events in (("wazuh", 2001, security), ("wazuhdet", 2004, detection)):
        root = out / "ext" / source
        dataset = ds.dataset(root, format="parquet", partitioning="hive")
        table = dataset.to_table()
        assert table.num_rows == len(events)
        assert set(table.column("region").to_pylist()) == {"eu-west-1"}
        assert {str(a) for a in table.column("accountId").to_pylist()} == {"123456789012"}
        for path in root.rglob("*.parquet"):
            assert pq.read_schema(path) == schema_for(class_uid)
            assert pq.read_schema(path).metadata == schema_for(class_uid).metadata
            part = pq.read_table(path, columns=["time", "class_uid"])
            times = part.column("time").to_pylist()
            assert times == sorted(times), path
            day = path.parent.name.split("=")[1]
            assert {t // DAY_MS for t in times} == {_day_number(day)}
            assert set(part.column("class_uid").to_pylist()) == {class_uid}
            assert path.name.startswith("node-1-") and f".{class_uid}.{day}." in path.name
    days = sorted({p.parent.name for p in (out / "ext" / "wazuh").rglob("*.parquet")})
    assert days == ["eventDay=20240422", "eventDay=20240423", "eventDay=20240424"]

    # DuckDB reads the tree as one Hive-partitioned dataset; the README's query runs on it.
    connection = duckdb.connect()
    by_severity = connection.execute(README_QUERY_SEVERITY.format(root=out)).fetchall()
    assert sum(row[2] for row in by_severity) == 240
    expected = collections.Counter((_day_of(e["time"]), e["severity"]) for e in security)
    assert {(str(day), severity): n for day, severity, n in by_severity} == dict(expected)
    rules = connection.execute(README_QUERY_RULES.format(root=out)).fetchall()
    top = collections.Counter((e["analytic"]["uid"], e["analytic"]["name"]) for e in security)
    assert rules == [(uid, name, n) for (uid, name), n in sorted(top.items(), key=lambda kv: (-kv[1], kv[0][0]))][:10]

    # Evidence columns are queryable after spool → flush → Parquet: CloudTrail's API call and
    # actor, Sysmon's process image hashes (mapping.module_evidence).
    evidence = f"SELECT unnest(evidences) AS e FROM read_parquet('{out}/ext/wazuhdet/**/*.parquet')"
    calls = connection.execute(f"SELECT e.api.operation, e.api.response.error, e.actor.user.uid FROM ({evidence}) "
                               "WHERE e.api.service.name = 's3.amazonaws.com'").fetchall()
    role_session = "arn:aws:sts::111122223333:assumed-role/ci-deploy/ci-deploy-session"
    assert calls == [("DeleteBucket", "AccessDenied", role_session)] * 2
    hashes = connection.execute(f"SELECT e.process.name, h.value FROM ({evidence}), "
                                "unnest(e.process.file.hashes) AS t(h) WHERE h.algorithm_id = 3").fetchall()
    assert hashes == [("wscript.exe", "CE9F70E104C07D92FC05FBD6000839FD6A87FF010E706396F87DD679244ED97B")] * 2

    # The delivered index has every uid under its day.
    index = DeliveredIndex(settings.spool_dir)
    for event in security + detection:
        assert index.is_delivered(uid_of(event), _day_of(event["time"]))


def _day_number(day: str) -> int:
    import datetime

    return (datetime.date(int(day[:4]), int(day[4:6]), int(day[6:])) - datetime.date(1970, 1, 1)).days


def _day_of(time_ms: int) -> str:
    import datetime

    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=time_ms // DAY_MS)).strftime("%Y%m%d")


def test_empty_spool_flushes_nothing(tmp_path):
    settings = make_settings(tmp_path)
    Spool(settings, create=True)
    result = flush(settings, [LocalSink(settings, tmp_path / "out")])
    assert (result.segments, result.events, result.objects, result.ok) == (0, 0, 0, True)


def test_no_sink_is_a_config_error(tmp_path):
    settings = make_settings(tmp_path)
    with pytest.raises(ConfigError, match="no destination"):
        flush(settings, [])


@pytest.mark.parametrize("point", ["parquet", "deliver", "release", "release-member"])
def test_crash_at_each_point_then_a_normal_flush_leaves_every_event_exactly_once(tmp_path, point):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    events = make_events(150, days=2)
    spool_events(settings, events)
    out = tmp_path / "lake"

    crashed = run_cli(tmp_path, "flush", "--output-dir", str(out), env={"WAZUH_OCSF_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    left = Spool(settings).sealed_segments()
    assert left, "the crash must leave the segment it was working on"
    if point == "release-member":  # one batch of every segment; the first of them released
        (name,) = manifests.segment_names(settings.spool_dir)
        assert len(manifests.load(settings.spool_dir, name).segment_names()) == len(left) + 1 > 2
    if point == "parquet":
        assert not out.exists()
        assert list((Path(settings.spool_dir) / "outgoing").rglob("*.parquet"))  # leftovers to clean
    else:
        assert manifests.segment_names(settings.spool_dir) == [left[0].name]
    if point in ("release", "release-member"):
        (name,) = manifests.segment_names(settings.spool_dir)
        manifest = manifests.load(settings.spool_dir, name)
        assert manifest.acknowledged == [f"local:{out}"] and manifest.indexed

    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok, result.failures
    assert_exactly_once(out, events)
    assert_spool_drained(settings)


def test_a_retry_uses_the_manifest_names_even_when_settings_changed(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes="400K", object_max_bytes="20K")
    events = make_events(300, days=1)
    spool_events(settings, events)
    out = tmp_path / "lake"
    crashed = run_cli(
        tmp_path,
        "flush",
        "--output-dir",
        str(out),
        env={"WAZUH_OCSF_CRASH_AT": "deliver"},
        segment_max_bytes="400K",
        object_max_bytes="20K",
    )
    assert crashed.returncode == -signal.SIGKILL
    first_names = sorted(p.name for p in out.rglob("*.parquet"))
    assert len(first_names) > 1 and all(name.endswith(".zstd.parquet") for name in first_names)

    changed = make_settings(tmp_path, segment_max_bytes="400K", object_max_bytes="1G", compression="snappy")
    result = flush(changed, [LocalSink(changed, out)])
    assert result.ok, result.failures
    assert_exactly_once(out, events)
    assert set(first_names) <= {p.name for p in out.rglob("*.parquet")}


def test_hooks_appending_during_flushes_lose_nothing_and_double_nothing(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes="16K")
    Spool(settings, create=True)
    out = tmp_path / "lake"
    writers, per_writer = 3, 100
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "tests")
        from flush_support import corpus_events, make_settings, varied
        from pathlib import Path
        from wazuh_ocsf.spool.store import Spool
        from wazuh_ocsf.spool.line import encode_event
        writer, count = sys.argv[1], int(sys.argv[2])
        settings = make_settings(Path(sys.argv[3]), segment_max_bytes="16K")
        spool = Spool(settings)
        templates = corpus_events(2001)
        for i in range(count):
            spool.append(encode_event(varied(templates[i % len(templates)], f"w{writer}-{i}")))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w), str(per_writer), str(tmp_path)], cwd=REPO_ROOT)
        for w in range(writers)
    ]
    flushes = 0
    while any(p.poll() is None for p in procs) or flushes == 0:
        result = flush(settings, [LocalSink(settings, out)])
        assert result.failures == []
        flushes += 1
    assert [p.wait() for p in procs] == [0] * writers
    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok
    templates = corpus_events(2001)
    expected = [varied(templates[i % len(templates)], f"w{w}-{i}") for w in range(writers) for i in range(per_writer)]
    assert_exactly_once(out, expected)
    assert_spool_drained(settings)


def test_torn_last_line_and_a_corrupted_segment_deliver_every_good_line(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes="1G")
    good = make_events(40, days=1)
    spool = spool_events(settings, good[:20])
    first = spool.seal_active()
    # Corrupt the sealed segment: garbage in the middle, an unknown field, a wrong type.
    lines = Path(first.path).read_bytes().split(b"\n")[:-1]
    unknown = json.loads(lines[3])
    unknown["no_such_field"] = 1
    wrong = json.loads(lines[7])
    wrong["severity_id"] = "high"
    bad = {
        6: b"\x00\x00\x00 garbage from a bad disk block",
        9: json.dumps(unknown, separators=(",", ":")).encode(),
        14: json.dumps(wrong, separators=(",", ":")).encode(),
    }
    kept = [e for i, e in enumerate(good[:20]) if i not in (3, 7)]
    new_lines = [line for i, line in enumerate(lines) if i not in (3, 7)]
    for number in sorted(bad):
        new_lines.insert(number - 1, bad[number])
    Path(first.path).write_bytes(b"\n".join(new_lines) + b"\n")
    # The active segment: a writer killed mid-line leaves a torn last line.
    spool_events(settings, good[20:])
    torn = encode_event(good[39])[:100]
    active = spool.active_segment()
    with open(active.path, "ab") as handle:
        handle.write(torn)

    out = tmp_path / "lake"
    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok, result.failures
    assert (result.events, result.dead_lettered) == (len(kept) + 20, 4)
    assert_exactly_once(out, kept + good[20:])
    records = list(dead_letter.iter_records(settings.spool_dir))
    got = sorted((r["source"], r["data"]) for r in records)
    want = sorted(
        [(f"{first.path}:{n}", line + b"\n") for n, line in bad.items()] + [(f"{active.path[:-5]}.ndjson:end", torn)]
    )
    assert got == want
    reasons = {r["source"].rsplit(":", 1)[1]: r["reason"] for r in records}
    assert "no class_uid" in reasons["6"]
    assert "unexpected field" in reasons["9"]
    assert "changed from number to string" in reasons["14"]
    assert "torn last line" in reasons["end"]
    assert_spool_drained(settings)


def test_a_failing_sink_keeps_the_segment_and_the_next_flush_delivers_it(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    events = make_events(100, days=1)
    spool_events(settings, events)
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    result = flush(settings, [LocalSink(settings, blocked)], block_bytes=BATCH_BYTES)
    assert not result.ok
    assert result.segments == 0 and result.left == len(Spool(settings).sealed_segments()) > 1
    assert f"local:{blocked}: Failed to write" in result.failures[0] and "Not a directory" in result.failures[0]
    # After the first failure the sink is not tried again in this flush, and that is said.
    assert len(result.failures) > 1 and all("not attempted: local:" in failure for failure in result.failures[1:])

    out = tmp_path / "lake"
    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok and result.events == 100
    assert_exactly_once(out, events)


def test_two_sinks_one_failing_the_next_flush_delivers_only_to_the_one_that_failed(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    events = make_events(100, days=2)
    spool_events(settings, events)
    out = tmp_path / "lake"
    local, flaky = CountingLocalSink(settings, out), FlakySink(fail=True)

    result = flush(settings, [local, flaky], block_bytes=BATCH_BYTES)
    segments = Spool(settings).sealed_segments()
    batches = manifests.segment_names(settings.spool_dir)
    assert not result.ok and result.left == len(segments) > len(batches) > 1
    assert result.failures[0].endswith("flaky:test: Failed to upload to flaky:test: connection refused")
    assert local.calls == len(batches) and flaky.calls == 1
    for name in batches:
        assert manifests.load(settings.spool_dir, name).acknowledged == [sink_id(local)]
    assert_exactly_once(out, events)  # the local sink has them all already

    # New segments arrive meanwhile: they form new batches, the planned ones keep their segments.
    more = make_events(30, days=1, start_ms=1713900000000)
    more = [varied(event, "late") for event in more]
    spool_events(settings, more)
    total = len(Spool(settings).sealed_segments()) + 1  # + the active one the flush seals
    local, flaky = CountingLocalSink(settings, out), FlakySink(fail=False)
    result = flush(settings, [local, flaky])
    assert result.ok and result.segments == total > len(segments) + 1
    assert local.calls == 1 and flaky.calls == len(batches) + 1
    assert sorted(flaky.names) == sorted(p.name for p in out.rglob("*.parquet"))
    assert_exactly_once(out, events + more)
    assert_spool_drained(settings)


def test_a_class_without_destination_keeps_its_segment_and_says_which_setting(tmp_path):
    settings = make_settings(tmp_path, detection_finding_source="")
    spool_events(settings, corpus_events(2004)[:3])
    result = flush(settings, [LocalSink(settings, tmp_path / "lake")])
    assert result.left == 1 and "WAZUH_OCSF_DETECTION_FINDING_SOURCE" in result.failures[0]
    assert len(Spool(settings).sealed_segments()) == 1


def test_a_second_flusher_gives_up_at_once(tmp_path):
    settings = make_settings(tmp_path)
    spool_events(settings, make_events(5))
    with Spool(settings).flush_lock():
        with pytest.raises(SpoolBusyError, match="another flusher"):
            flush(settings, [LocalSink(settings, tmp_path / "lake")])
        busy = run_cli(tmp_path, "flush", "--output-dir", str(tmp_path / "lake"))
    assert busy.returncode == 4
    assert busy.stderr.startswith("ERROR: another flusher holds") and busy.stdout == "", busy.stderr
    assert not (tmp_path / "lake").exists()


def test_flush_command_json_and_exit_status(tmp_path):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    spool_events(settings, make_events(60))
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    failed = run_cli(tmp_path, "flush", "--output-dir", str(blocked))
    assert failed.returncode == 1
    assert "left unsent" in failed.stdout
    assert "ERROR: delivery of " in failed.stderr and "Not a directory" in failed.stderr

    done = run_cli(tmp_path, "flush", "--output-dir", str(tmp_path / "lake"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] == 60 and summary["ok"] is True and summary["left"] == 0
    assert set(summary) == {
        "segments",
        "events",
        "objects",
        "bytes",
        "seconds",
        "dead_lettered",
        "left",
        "failures",
        "ok",
        "delivered",
    }
    assert summary["objects"] == len(list((tmp_path / "lake").rglob("*.parquet")))

    text = run_cli(tmp_path, "flush", "--output-dir", str(tmp_path / "lake"))
    assert text.returncode == 0
    assert text.stdout.startswith("flushed 0 segments: 0 events in 0 objects")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to flush as root and run a hook as nobody")
def test_a_root_flush_leaves_the_spool_usable_by_the_hook_user(tmp_path_factory):
    import pwd
    import tempfile

    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK):
        pytest.skip("no system python3 the user nobody can run")
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-root-"))  # pytest's tmp dirs are root-only
    try:
        base.chmod(0o755)
        for sub in ("spool", "logs", "lake"):
            (base / sub).mkdir()
            os.chown(base / sub, nobody.pw_uid, nobody.pw_gid)
        alert = base / "alert.json"
        alerts = sorted((REPO_ROOT / "tests" / "data" / "alerts").glob("*.json"))

        def hook(path: Path) -> subprocess.CompletedProcess:
            alert.write_bytes(path.read_bytes())
            alert.chmod(0o644)
            env = {"PATH": "/usr/bin:/bin", "WAZUH_OCSF_PYTHON": python, **settings_env(base)}

            def become_nobody() -> None:
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)

            return subprocess.run(
                [
                    str(REPO_ROOT / "integrations" / "custom-wazuh-ocsf"),
                    str(alert),
                    "",
                    "",
                    "",
                    "",
                    "10",
                    "3",
                    "> /dev/null 2>&1",
                ],
                env=env,
                preexec_fn=become_nobody,
                capture_output=True,
                text=True,
                timeout=60,
                cwd="/",
            )

        first = hook(alerts[0])
        assert first.returncode == 0, first.stderr + (base / "logs" / "integrations.log").read_text(errors="replace")
        root_flush = run_cli(base, "flush", "--output-dir", str(base / "lake"), "--json")
        assert root_flush.returncode == 0, root_flush.stderr
        assert json.loads(root_flush.stdout)["events"] == 1
        second = hook(alerts[1])
        assert second.returncode == 0, second.stderr + (base / "logs" / "integrations.log").read_text(errors="replace")
        owners = {
            (p, p.stat().st_uid) for p in [base / "spool", *(base / "spool").rglob("*"), *(base / "lake").rglob("*")]
        }
        assert {uid for _, uid in owners} == {nobody.pw_uid}, sorted(
            str(p) for p, uid in owners if uid != nobody.pw_uid
        )
        again = run_cli(base, "flush", "--output-dir", str(base / "lake"), "--json")
        assert json.loads(again.stdout)["events"] == 1
        assert len(tree_uids(base / "lake")) == 2
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to flush as root and drop to the spool's owner")
def test_a_permission_error_says_whom_the_flush_ran_as():
    """Issue 12, item 2: root switches to the spool's owner; a root-only output dir then refuses it."""
    import pwd
    import shutil
    import tempfile

    try:
        daemon = pwd.getpwnam("daemon")
    except KeyError:
        pytest.skip("no 'daemon' user on this machine")
    base = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-root-"))  # pytest's tmp dirs are root-only
    try:
        base.chmod(0o755)
        settings = make_settings(base)
        spool_events(settings, make_events(3))
        (base / "logs").mkdir()
        for root, dirs, files in os.walk(base):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, daemon.pw_uid, daemon.pw_gid)
        os.chown(base, 0, 0)
        locked = base / "root-only"
        locked.mkdir(mode=0o755)
        done = run_cli(base, "flush", "--output-dir", str(locked / "lake"))
        assert done.returncode == 1
        expected = f"Permission denied (ran as daemon after dropping root: make {locked}/lake writable by daemon)"
        assert expected in done.stderr, done.stderr
    finally:
        shutil.rmtree(base)
