from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from datetime import date, datetime, timezone

import pytest
from alert_tree import day_alerts, day_path, line, link_live, uid, write_day
from flush_support import make_settings

from wazuh_ocsf.cli import main
from wazuh_ocsf.commands import backfill as backfill_command
from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.readers.backfill import backfill, checkpoint_path, parse_time, read_checkpoint, write_checkpoint
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.line import decode_line
from wazuh_ocsf.spool.store import Spool

SINCE = datetime(2024, 4, 20, tzinfo=timezone.utc)
UNTIL = datetime(2024, 4, 23, tzinfo=timezone.utc)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def manager(tmp_path):
    """A Wazuh home with three days of alerts (the last one live) and an empty spool."""
    alerts_dir = tmp_path / "logs" / "alerts"
    alerts = []
    a20 = day_alerts(utc(2024, 4, 20), 25, 1)
    write_day(day_path(alerts_dir, utc(2024, 4, 20), gz=True), b"".join(map(line, a20)))
    a21 = day_alerts(utc(2024, 4, 21), 30, 100)
    corrupt = b'{"timestamp":"2024-04-21T01:00:00.000+0000","rule":{"level":\n'
    write_day(day_path(alerts_dir, utc(2024, 4, 21)), b"".join(map(line, a21[:10])) + corrupt
              + b"".join(map(line, a21[10:])))
    a22 = day_alerts(utc(2024, 4, 22), 20, 200)
    live = write_day(day_path(alerts_dir, utc(2024, 4, 22)), b"".join(map(line, a22)))
    link_live(alerts_dir, live)
    alerts = a20 + a21 + a22
    settings = make_settings(tmp_path, follow_workers="1", output_dir=str(tmp_path / "lake"))
    Spool(settings, create=True)
    return {"settings": settings, "alerts": alerts, "dir": alerts_dir, "live": live, "corrupt": corrupt}


def spooled(settings) -> list:
    """Finding uids of every line in the spool's segments, in order."""
    spool = Spool(settings)
    segments = spool.sealed_segments() + ([spool.active_segment()] if spool.active_segment() else [])
    uids = []
    for segment in segments:
        with open(segment.path, "rb") as handle:
            uids += [decode_line(raw)["finding"]["uid"] for raw in handle]
    return uids


def test_backfill_spools_every_alert_once_and_a_second_run_sends_nothing(manager):
    settings = manager["settings"]
    first = backfill(settings, since=SINCE, until=UNTIL)
    expected = [uid(a) for a in manager["alerts"]]
    assert spooled(settings) == expected
    assert (first.alerts, first.spooled, first.already_spooled, first.already_delivered) == (75, 75, 0, 0)
    assert first.bad_lines == 1
    assert read_checkpoint(Spool(settings)) is None  # a completed run leaves no checkpoint
    second = backfill(settings, since=SINCE, until=UNTIL)
    assert (second.alerts, second.spooled, second.already_spooled) == (75, 0, 75)
    assert spooled(settings) == expected


def test_corrupt_lines_go_to_the_dead_letter_directory_with_file_and_offset(manager):
    settings = manager["settings"]
    backfill(settings, since=SINCE, until=UNTIL)
    records = list(dead_letter.iter_records(settings.spool_dir))
    path = str(day_path(manager["dir"], utc(2024, 4, 21)))
    offset = len(b"".join(map(line, manager["alerts"][25:35])))
    assert [(r["source"], r["data"]) for r in records] == [(f"{path}:{offset}", manager["corrupt"].rstrip(b"\n"))]
    assert records[0]["reason"].startswith("not an alert: not valid JSON")


def test_alerts_already_delivered_by_a_real_flush_are_skipped(manager):
    from wazuh_ocsf.flush.flusher import flush
    from wazuh_ocsf.sinks.registry import build_sinks

    settings = manager["settings"]
    backfill(settings, since=SINCE, until=UNTIL)
    result = flush(settings, build_sinks(settings))
    assert result.ok and result.events == 75
    assert spooled(settings) == []
    # three more alerts reach the live file afterwards
    extra = day_alerts(utc(2024, 4, 22), 23, 200)[20:]
    with open(manager["live"], "ab") as handle:
        handle.write(b"".join(map(line, extra)))
    again = backfill(settings, since=SINCE, until=UNTIL)
    assert (again.alerts, again.spooled, again.already_delivered, again.already_spooled) == (78, 3, 75, 0)
    assert spooled(settings) == [uid(a) for a in extra]


def test_interrupted_run_resumes_from_its_checkpoint(manager):
    settings = manager["settings"]
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(settings, since=SINCE, progress=interrupt, batch_lines=10)
    checkpoint = read_checkpoint(Spool(settings))
    assert checkpoint["since"] == "2024-04-20T00:00:00.000Z"
    assert checkpoint["file"] == "2024/Apr/ossec-alerts-21"  # 25 alerts of day 20, then 5 of day 21
    done = len(spooled(settings))
    assert done == 30
    # no --until: the interrupted run's end is reused, so the checkpoint applies
    resumed = backfill(settings, since=SINCE, batch_lines=10)
    assert resumed.resumed_from == f"2024/Apr/ossec-alerts-21:{checkpoint['offset']}"
    assert resumed.until == checkpoint["until"]
    assert resumed.alerts == 75 - 30
    assert (resumed.spooled, resumed.already_spooled) == (45, 0)
    assert spooled(settings) == [uid(a) for a in manager["alerts"]]


def test_a_batch_spooled_but_not_checkpointed_is_not_spooled_again(manager):
    """A crash between the append and the checkpoint write: the start-up scan catches it."""
    settings = manager["settings"]
    spool = Spool(settings)
    with pytest.raises(KeyboardInterrupt):
        backfill(settings, since=SINCE, until=UNTIL, progress=_interrupt_after(4), batch_lines=10)
    checkpoint = read_checkpoint(spool)
    write_checkpoint(spool, dict(checkpoint, file="2024/Apr/ossec-alerts-20", offset=0))  # the lost update
    resumed = backfill(settings, since=SINCE, until=UNTIL, batch_lines=10)
    assert (resumed.alerts, resumed.already_spooled, resumed.spooled) == (75, 40, 35)
    counts = Counter(spooled(settings))
    assert set(counts.values()) == {1} and len(counts) == 75


def test_a_checkpoint_of_another_range_is_not_used(manager):
    settings = manager["settings"]
    with pytest.raises(KeyboardInterrupt):
        backfill(settings, since=SINCE, until=UNTIL, progress=_interrupt_after(1), batch_lines=10)
    other = backfill(settings, since=utc(2024, 4, 22), until=UNTIL)
    assert other.resumed_from is None
    assert (other.alerts, other.spooled) == (20, 20)


def test_parallel_mapping_gives_the_same_spool(manager, tmp_path):
    settings = manager["settings"]
    result = backfill(settings, since=SINCE, until=UNTIL, workers=2, batch_lines=7)
    assert result.spooled == 75
    assert spooled(settings) == [uid(a) for a in manager["alerts"]]


def run_command(argv: list) -> int:
    """``wazuh-ocsf backfill …`` through the command module's own parser and ``run``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    backfill_command.add_arguments(parser)
    return backfill_command.run(parser.parse_args(argv))


@pytest.fixture
def isolated_logging():
    """Undo what ``logfile.configure`` does to the process's loggers, so later tests see none of it."""
    root, ours = logging.getLogger(), logging.getLogger("wazuh_ocsf")
    before = list(root.handlers), root.level, ours.level
    yield
    for handler in root.handlers:
        if handler not in before[0]:
            handler.close()
    root.handlers[:], root.level = before[0], before[1]
    ours.setLevel(before[2])


def command_env(manager, monkeypatch) -> None:
    settings = manager["settings"]
    monkeypatch.setenv("WAZUH_OCSF_WAZUH_HOME", settings.wazuh_home)
    monkeypatch.setenv("WAZUH_OCSF_SPOOL_DIR", settings.spool_dir)
    monkeypatch.setenv("WAZUH_OCSF_NODE_NAME", "node-1")
    monkeypatch.setenv("WAZUH_OCSF_FOLLOW_WORKERS", "1")
    monkeypatch.setenv("WAZUH_OCSF_CONFIG", str(manager["dir"] / "none.conf"))


def test_command_line(manager, capsys, monkeypatch, isolated_logging):
    command_env(manager, monkeypatch)
    assert run_command(["--since", "2024-04-20", "--until", "2024-04-23T00:00Z", "--json", "--progress"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["spooled"], summary["bad_lines"], summary["since"]) == (75, 1, "2024-04-20T00:00:00.000Z")
    assert "100.0%" in err and "MiB" in err
    assert run_command(["--since", "2024-04-20", "--until", "2024-04-23"]) == 0
    out, err = capsys.readouterr()
    assert "75 alerts read, 0 spooled" in out
    assert err == ""  # no progress bar when stderr is not a terminal
    with pytest.raises(ConfigError, match="--until: must be later than --since"):
        run_command(["--since", "2024-04-23", "--until", "2024-04-20"])
    with pytest.raises(ConfigError, match="is not a date or time like"):
        run_command(["--since", "last tuesday"])


def test_command_line_logs_its_warnings_to_the_log_file(manager, capsys, monkeypatch, isolated_logging):
    command_env(manager, monkeypatch)
    assert run_command(["--since", "2024-04-19", "--until", "2024-04-23"]) == 0
    _out, err = capsys.readouterr()
    assert "WARNING: no alerts archive for 1 day: 2024-04-19\n" in err
    path = os.path.join(manager["settings"].wazuh_home, "logs", "wazuh-ocsf.log")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert "wazuh-ocsf-backfill[" in text
    assert "WARNING: no alerts archive for 2024-04-19 in " in text


def test_parse_time():
    assert parse_time("2024-04-22") == utc(2024, 4, 22)
    assert parse_time("2024-04-22T14:00") == utc(2024, 4, 22, 14)
    assert parse_time("2024-04-22T16:20:46.976+0200") == utc(2024, 4, 22, 14, 20, 46, 976000)
    assert parse_time("2024-04-22T14:20:46Z") == utc(2024, 4, 22, 14, 20, 46)
    with pytest.raises(ValueError, match="is not a date or time like"):
        parse_time("22/04/2024")


def test_checkpoint_file_is_in_the_state_directory(manager):
    spool = Spool(manager["settings"])
    assert checkpoint_path(spool) == f"{spool.state_dir}/backfill.json"


def _interrupt_after(batches: int):
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == batches:
            raise KeyboardInterrupt

    return progress


def test_an_unopenable_backfill_lock_is_a_spool_error(manager):
    from wazuh_ocsf.errors import SpoolError

    settings = manager["settings"]
    os.makedirs(os.path.join(Spool(settings).state_dir, "backfill.lock"))  # open() fails, even as root
    with pytest.raises(SpoolError, match=r"cannot open the backfill lock .*backfill\.lock"):
        backfill(settings, since=utc(2024, 4, 20), until=utc(2024, 4, 23))


def test_a_second_backfill_on_the_same_spool_is_refused(manager):
    from wazuh_ocsf.errors import SpoolBusyError
    from wazuh_ocsf.spool.store import ExclusiveLock

    settings = manager["settings"]
    path = os.path.join(Spool(settings).state_dir, "backfill.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with ExclusiveLock(path, what="a test lock", busy="held"), pytest.raises(
        SpoolBusyError, match=r"another backfill is running on this spool \(it holds .*backfill\.lock\)"
    ):
        backfill(settings, since=utc(2024, 4, 20), until=utc(2024, 4, 23))


def test_a_second_run_adds_no_dead_letter_and_long_gaps_are_summarised(manager, capsys, monkeypatch, isolated_logging):
    """Issue 12, item 11: the same bad line is kept once; years of missing days are ranges and a count."""
    command_env(manager, monkeypatch)
    spool_dir = manager["settings"].spool_dir
    assert main(["backfill", "--since", "2024-04-20", "--until", "2024-04-23", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["bad_lines"] == 1 and dead_letter.count(spool_dir) == 1
    assert main(["backfill", "--since", "2019-01-01", "--until", "2024-04-23", "--json"]) == 0
    out, err = capsys.readouterr()
    again = json.loads(out)
    assert (again["bad_lines"], again["already_dead_lettered"]) == (0, 1)
    assert dead_letter.count(spool_dir) == 1
    missing = again["missing_days"]
    assert missing["count"] == (date(2024, 4, 20) - date(2019, 1, 1)).days
    assert missing["ranges"] == [{"first": "2019-01-01", "last": "2024-04-19"}]
    assert main(["backfill", "--since", "2019-01-01", "--until", "2024-04-23"]) == 0
    out, err = capsys.readouterr()
    assert "1 bad lines already in the dead letters" in out
    assert err.count("WARNING: no alerts archive") == 1
    assert f"WARNING: no alerts archive for {missing['count']} days: 2019-01-01 .. 2024-04-19\n" in err
