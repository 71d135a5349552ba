"""Dead letters that break decoders, and hooks writing while a replay runs: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import test_dead_letter_cli
from ops_support import ALERTS, cli

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.operations import replay as replay_module
from wazuh_ocsf.operations.replay import replay
from wazuh_ocsf.spool import dead_letter

DEEP = b'{"rule": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}"  # what the hook keeps (exit 7)


manager = test_dead_letter_cli.manager  # the same manager home fixture
spooled_uids = test_dead_letter_cli.spooled_uids


def settings_of(home: Path):
    return load_settings(path=str(home / "etc" / "wazuh-ocsf.conf"), environ={})


def test_a_record_nested_too_deeply_is_listed_and_replayed_as_still_failing_never_doubling(manager):
    home, env = manager
    settings = settings_of(home)
    good = (ALERTS / "fim-added.json").read_bytes()
    dead_letter.record(settings.spool_dir, reason="kept", source="good.alert", data=good, node="manager-1")
    dead_letter.record(settings.spool_dir, reason="nested", source="deep.alert", data=DEEP, node="manager-1")
    dead_letter.record(settings.spool_dir, reason="kept", source="later.alert", data=good, node="manager-2")

    listed = cli("dead-letter", "list", "--json", env=env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert [(r["source"], r["kind"]) for r in json.loads(listed.stdout)] == [
        ("good.alert", "alert"), ("deep.alert", "unreadable"), ("later.alert", "alert")
    ]
    for _ in range(3):
        again = cli("dead-letter", "replay", "--json", env=env)
        assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
        outcome = json.loads(again.stdout)
        assert [r["reason"] for r in outcome["still_failing"]] == ["replay: alert is nested too deeply to decode"]
    assert len(spooled_uids(settings.spool_dir)) == 2  # each good record once, after three replays
    assert [r["source"] for r in dead_letter.iter_records(settings.spool_dir)] == ["deep.alert"]
    assert [p.name for p in Path(settings.spool_dir, "dead-letter").iterdir()] == [
        Path(dead_letter.path_for(settings.spool_dir, "manager-1")).name
    ]


def test_a_dead_letter_line_nested_too_deeply_is_an_unreadable_record(tmp_path):
    path = tmp_path / "dead-letter" / "manager-1-20240422.ndjson"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[" * 100_000 + b"\n")
    (item,) = dead_letter.iter_records(str(tmp_path))
    assert item["reason"] == "unreadable dead-letter record" and len(item["data"]) == 100_000


def test_a_mapper_failure_keeps_the_record_with_the_reason(manager, monkeypatch):
    settings = settings_of(manager[0])
    good = (ALERTS / "fim-added.json").read_bytes()
    for source in ("a.alert", "b.alert"):
        dead_letter.record(settings.spool_dir, reason="kept", source=source, data=good, node="manager-1")
    calls = []

    def broken_line_for(self, data):
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("a bug in the mapper")
        return original(self, data)

    original = replay_module._Replayer.line_for
    monkeypatch.setattr(replay_module._Replayer, "line_for", broken_line_for)
    result = replay(settings, settle=0)
    assert result.replayed == 1
    assert result.still_failing[0][1] == "replay: unexpected KeyError: 'a bug in the mapper'"
    assert [r["source"] for r in dead_letter.iter_records(settings.spool_dir)] == ["b.alert"]
    assert len(spooled_uids(settings.spool_dir)) == 1


def test_a_record_written_after_the_replay_read_the_file_is_kept(manager, monkeypatch):
    settings = settings_of(manager[0])
    good = (ALERTS / "fim-added.json").read_bytes()
    path = dead_letter.record(settings.spool_dir, reason="kept", source="first.alert", data=good, node="manager-1")
    # A hook that opened the day's file just before the replay renamed it, and writes late.
    late_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    late_record = json.dumps({"time": "2024-04-22T14:20:46.976Z", "reason": "late", "source": "late.alert",
                              "node": "manager-1", "data_b64": ""}).encode() + b"\n"
    original = replay_module._Replayer.line_for

    def line_for_then_a_late_write(self, data):
        os.write(late_fd, late_record)  # after the replay read the file, before it is removed
        return original(self, data)

    monkeypatch.setattr(replay_module._Replayer, "line_for", line_for_then_a_late_write)
    try:
        result = replay(settings, settle=0)
    finally:
        os.close(late_fd)
    assert result.replayed == 1
    assert [r["source"] for r in dead_letter.iter_records(settings.spool_dir)] == ["late.alert"]
    assert len(spooled_uids(settings.spool_dir)) == 1


def test_a_record_cut_short_stays_and_the_next_one_keeps_its_own_line(manager):
    settings = settings_of(manager[0])
    good = (ALERTS / "fim-added.json").read_bytes()
    path = dead_letter.record(settings.spool_dir, reason="kept", source="a.alert", data=good, node="manager-1")
    with open(path, "ab") as handle:
        handle.write(b'{"time": "2024-04-22T14:20:46.976Z", "reason": "torn", "da')  # a writer killed mid-record
    result = replay(settings, settle=0)
    assert result.replayed == 1
    dead_letter.record(settings.spool_dir, reason="kept", source="b.alert", data=good, node="manager-1")
    records = list(dead_letter.iter_records(settings.spool_dir))
    assert [r["reason"] for r in records] == ["unreadable dead-letter record", "kept"]
    assert records[0]["data"].endswith(b'"da')
