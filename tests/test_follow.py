from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
from alert_tree import alert, day_alerts, day_path, line, link_live, uid, write_day
from flush_support import make_settings, settings_env

from wazuh_ocsf.readers.follow import Follower
from wazuh_ocsf.readers.pipeline import AlertFilter, MapOptions, map_block
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.line import decode_line
from wazuh_ocsf.spool.store import Spool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


D20, D21, D22 = utc(2024, 4, 20), utc(2024, 4, 21), utc(2024, 4, 22)


def spooled(settings) -> list:
    spool = Spool(settings)
    active = spool.active_segment()
    uids = []
    for segment in spool.sealed_segments() + ([active] if active else []):
        with open(segment.path, "rb") as handle:
            uids += [decode_line(raw)["finding"]["uid"] for raw in handle]
    return uids


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def gzip_archive(path) -> None:
    """What wazuh-monitord does to the previous day's file."""
    with open(path, "rb") as source, gzip.open(f"{path}.gz", "wb") as target:
        target.write(source.read())
    os.unlink(path)


def rotate(alerts_dir, day: datetime, data: bytes = b""):
    """What wazuh-analysisd does at midnight: new day file, alerts.json re-linked to it."""
    path = write_day(day_path(alerts_dir, day), data)
    link_live(alerts_dir, path)
    return path


@pytest.fixture
def home(tmp_path):
    alerts_dir = tmp_path / "logs" / "alerts"
    old = day_alerts(D20, 5, 1)
    first = rotate(alerts_dir, D20, b"".join(map(line, old)))
    settings = make_settings(tmp_path, follow_workers="2")
    Spool(settings, create=True)
    return {"tmp": tmp_path, "dir": alerts_dir, "settings": settings, "first": first, "old": old}


class Process:
    """``wazuh-ocsf follow`` as the service runs it."""

    def __init__(self, home, *args: str, **extra) -> None:
        env = dict(os.environ)
        env.update(settings_env(home["tmp"], follow_workers="2", **extra))
        env["PYTHONPATH"] = REPO
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wazuh_ocsf.cli", "follow", "--poll", "0.05", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        state = os.path.join(home["settings"].spool_dir, "state", "follow.json")
        wait_for(lambda: os.path.exists(state) or self.proc.poll() is not None, "the follow state")
        assert self.proc.poll() is None, self.proc.communicate()

    def stop(self, sig=signal.SIGTERM) -> tuple:
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:  # its orphaned workers leave on their own; do not wait for them
            self.proc.wait(30)
            self.proc.stdout.close()
            self.proc.stderr.close()
            return self.proc.returncode, ""
        _out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err.decode()


def test_follow_survives_rotation_restart_and_kill_without_loss_or_repeats(home):
    settings, alerts_dir = home["settings"], home["dir"]
    expected = []
    follow = Process(home)
    # First start without state begins at the end: the 5 older alerts are backfill's job.
    batch = day_alerts(D20, 40, 10)
    data = b"".join(map(line, batch))
    append(home["first"], data[:1000])  # the manager can be mid-line at any read
    time.sleep(0.1)
    append(home["first"], data[1000:])
    expected += batch
    wait_for(lambda: len(spooled(settings)) >= len(expected), "the first 40 alerts")

    # Midnight: last alerts of day 20, then day 21 begins; day 20 is gzipped afterwards.
    late = [alert(utc(2024, 4, 20, 23, 59, 59), 90 + i) for i in range(3)]
    append(home["first"], b"".join(map(line, late)))
    day21 = day_alerts(D21, 10, 100)
    second = rotate(alerts_dir, D21, b"".join(map(line, day21)))
    expected += late + day21
    wait_for(lambda: len(spooled(settings)) >= len(expected), "the alerts around the rotation")
    gzip_archive(home["first"])

    code, err = follow.stop()
    assert code == 0, err
    assert "follow: 53 alerts spooled" in err

    # While stopped: more alerts on day 21, then day 22 starts and day 21 is gzipped.
    while_down = day_alerts(D21, 17, 100)[10:]
    append(second, b"".join(map(line, while_down)))
    day22 = day_alerts(D22, 4, 200)
    third = rotate(alerts_dir, D22, b"".join(map(line, day22)))
    gzip_archive(second)
    expected += while_down + day22

    follow = Process(home)
    wait_for(lambda: len(spooled(settings)) >= len(expected), "the catch-up after the restart")
    # A kill -9 in the middle of a stream of alerts.
    stream = day_alerts(D22, 204, 200)[4:]
    for index in range(0, len(stream), 25):
        append(third, b"".join(map(line, stream[index : index + 25])))
        if index == 100:
            follow.stop(signal.SIGKILL)
            follow = Process(home)
    expected += stream
    wait_for(lambda: len(spooled(settings)) >= len(expected), "the stream")
    code, err = follow.stop()
    assert code == 0, err

    got = spooled(settings)
    assert Counter(got) == Counter(uid(a) for a in expected)
    assert max(Counter(got).values()) == 1
    # order is kept within every file
    assert [u for u in got if u in {uid(a) for a in stream}] == [uid(a) for a in stream]


def run_in_thread(follower: Follower) -> threading.Thread:
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    wait_for(lambda: os.path.exists(follower.state_path), "the follow state")
    return thread


def test_filters_are_integratord_s(home):
    settings = make_settings(home["tmp"], follow_workers="1", follow_level="7", follow_group="sshd,",
                             follow_rule_id="5716,5760")
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    moment = utc(2024, 4, 20, 12)
    candidates = [
        alert(moment, 1, level=7, groups=("syslog", "sshd"), rule_id="5716"),  # passes
        alert(moment, 2, level=6, groups=("syslog", "sshd"), rule_id="5716"),  # level too low
        alert(moment, 3, level=10, groups=("syslog", "sshd_x"), rule_id="5716"),  # group is a whole-word match
        alert(moment, 4, level=10, groups=("syslog", "sshd"), rule_id="5710"),  # rule id not listed
        alert(moment, 5, level=12, groups=("sshd",), rule_id="5760"),  # passes
    ]
    append(home["first"], b"".join(map(line, candidates)))
    wait_for(lambda: follower.stats.filtered == 3, "the filtered alerts")
    follower.stop()
    thread.join(10)
    assert spooled(settings) == [uid(candidates[0]), uid(candidates[4])]


def test_alert_filter_semantics():
    both = AlertFilter(level=5, groups=("sshd", "pam"), rule_ids=(5716,))
    rule = {"level": 5, "groups": ["pam"], "id": "5716"}
    assert both.matches({"rule": rule})
    assert not both.matches({"rule": dict(rule, level="9")})  # not a number: as cJSON's valueint 0
    assert not both.matches({"rule": dict(rule, groups="pam")})
    assert not both.matches({"rule": {"level": 5, "id": "5716"}})  # no groups at all
    assert not both.matches({"rule": dict(rule, id="abc")})
    assert both.matches({"rule": dict(rule, id=" 5716")})  # atoi skips blanks
    assert not AlertFilter(level=1).matches({"rule": {}})
    assert AlertFilter(level=0).matches({"rule": {}})  # <level>0</level> filters nothing, as in integratord
    assert AlertFilter().describe() == "none"
    assert both.describe() == "level >= 5 and group in pam,sshd and rule id in 5716"


def test_truncated_file_is_read_again_from_its_start(home):
    settings = make_settings(home["tmp"], follow_workers="1")
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    first = day_alerts(D20, 20, 10)
    append(home["first"], b"".join(map(line, first)))
    wait_for(lambda: len(spooled(settings)) == 20, "the first alerts")
    with open(home["first"], "wb"):
        pass  # truncated in place (same inode), e.g. by `> alerts.json`
    again = day_alerts(D20, 3, 500)
    append(home["first"], b"".join(map(line, again)))
    wait_for(lambda: len(spooled(settings)) == 23, "the alerts after the truncation")
    follower.stop()
    thread.join(10)
    assert spooled(settings) == [uid(a) for a in first + again]
    assert follower.stats.truncations == 1


def test_torn_line_at_rotation_is_dead_lettered(home):
    settings = make_settings(home["tmp"], follow_workers="1")
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    good = day_alerts(D20, 2, 10)
    torn = line(alert(utc(2024, 4, 20, 23), 77))[:60]
    append(home["first"], b"".join(map(line, good)) + torn)
    wait_for(lambda: len(spooled(settings)) == 2, "the whole lines")
    rotate(home["dir"], D21, line(alert(utc(2024, 4, 21, 0, 1), 1)))
    wait_for(lambda: len(spooled(settings)) == 3, "the next day's alert")
    follower.stop()
    thread.join(10)
    records = list(dead_letter.iter_records(settings.spool_dir))
    offset = len(line(day_alerts(D20, 5, 1)[0])) * 0 + os.path.getsize(home["first"]) - len(torn)
    assert [(r["source"], r["data"]) for r in records] == [(f"{home['first']}:{offset}", torn)]
    assert records[0]["reason"].startswith("torn last line")


def test_crash_between_spool_append_and_state_write_neither_loses_nor_repeats(home):
    settings = make_settings(home["tmp"], follow_workers="1")
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    follower.stop()
    thread.join(10)
    state = follower.read_state()
    # Twelve alerts arrive; the "crashed" run had spooled the first batch of 7 but not moved
    # its offset (state still pending), and never got to the other 5.
    batch, rest = day_alerts(D20, 7, 10), day_alerts(D20, 12, 10)[7:]
    append(home["first"], b"".join(map(line, batch + rest)))
    block = map_block(b"".join(map(line, batch)), MapOptions.from_settings(settings))
    Spool(settings).append_many(block.lines)
    pending = dict(state, pending_end=state["offset"] + len(b"".join(map(line, batch))))
    with open(follower.state_path, "w") as handle:
        json.dump(pending, handle)
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    wait_for(lambda: len(spooled(settings)) >= 12, "the alerts after the crash")
    time.sleep(0.2)
    follower.stop()
    thread.join(10)
    assert spooled(settings) == [uid(a) for a in batch + rest]
    assert "pending_end" not in follower.read_state()


def test_second_follower_on_the_same_spool_is_refused(home):
    from wazuh_ocsf.errors import SpoolBusyError

    settings = make_settings(home["tmp"], follow_workers="1")
    follower = Follower(settings, poll_interval=0.02)
    thread = run_in_thread(follower)
    try:
        with pytest.raises(SpoolBusyError, match="another follower is running"):
            Follower(settings).run()
    finally:
        follower.stop()
        thread.join(10)


def test_an_unopenable_follow_lock_is_a_spool_error_not_a_traceback(home):
    from wazuh_ocsf.errors import SpoolError

    settings = home["settings"]
    state_dir = Spool(settings).state_dir
    os.makedirs(os.path.join(state_dir, "follow.lock"))  # a directory: open() fails (even as root)
    with pytest.raises(SpoolError, match=r"cannot open the follow lock .*follow\.lock"):
        Follower(settings).run()


def test_an_uncreatable_follow_state_directory_is_a_spool_error(home):
    from wazuh_ocsf.errors import SpoolError

    settings = home["settings"]
    state_dir = Spool(settings).state_dir
    if os.path.isdir(state_dir):
        os.rmdir(state_dir)
    with open(state_dir, "w"):  # a file where the directory should be
        pass
    with pytest.raises(SpoolError, match="cannot create the follow state directory"):
        Follower(settings).run()


def _pending_state(home) -> dict:
    status = os.stat(home["first"])
    return {"dev": status.st_dev, "ino": status.st_ino, "label": "none", "path": str(home["first"]),
            "offset": 0, "pending_end": 0}


def test_an_unwritable_follow_state_after_recovery_is_a_spool_error(home, monkeypatch):
    from wazuh_ocsf.errors import SpoolError
    from wazuh_ocsf.readers import follow as follow_module

    def refuse(path, data, **_kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(follow_module, "write_json_atomic", refuse)
    with pytest.raises(SpoolError, match=r"cannot write the follow state .*follow\.json: Permission denied"):
        Follower(home["settings"])._recover_pending(_pending_state(home))


def test_an_unreadable_file_in_recovery_is_a_spool_error_naming_it(home, monkeypatch):
    from wazuh_ocsf.errors import SpoolError
    from wazuh_ocsf.readers.alerts import AlertsFile

    def refuse(self):
        raise PermissionError(13, "Permission denied", self.path)

    monkeypatch.setattr(AlertsFile, "open", refuse)
    with pytest.raises(SpoolError, match=rf"cannot read {home['first']} to recover the batch in flight"):
        Follower(home["settings"])._recover_pending(_pending_state(home))


def test_follow_says_it_is_alive_in_its_log_and_in_status(home):
    """Issue 12, item 13: a periodic one-line heartbeat, to the log (and the journal) and to status."""
    settings = home["settings"]
    follow = Process(home, "--heartbeat", "0.2")
    beat_path = os.path.join(settings.spool_dir, "state", "follow-heartbeat.json")
    append(home["first"], b"".join(map(line, day_alerts(D20, 12, 300))))
    wait_for(lambda: len(spooled(settings)) >= 12, "the 12 alerts")

    def beat() -> dict:
        with open(beat_path, encoding="utf-8") as handle:
            return json.load(handle)

    wait_for(lambda: beat()["spooled"] == 12, "a heartbeat counting them")
    env = dict(os.environ, PYTHONPATH=REPO, **settings_env(home["tmp"]), WAZUH_OCSF_OUTPUT_DIR=str(home["tmp"]))
    status = subprocess.run([sys.executable, "-m", "wazuh_ocsf.cli", "status", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    data = json.loads(status.stdout)["follow"]
    assert (data["stopped"], data["spooled"], data["pid"]) == (False, 12, follow.proc.pid)
    assert data["reading"] == str(home["first"])
    code, err = follow.stop()
    assert code == 0, err
    alive = [x for x in err.splitlines() if "INFO: follow: alive, reading " in x]
    assert alive and all(x.endswith("dead-lettered") for x in alive), err
    log = (home["tmp"] / "logs" / "wazuh-ocsf.log").read_text()
    assert "follow: alive, reading " in log and "follow: stopped, " in log
    assert beat()["stopped"] is True
    text = subprocess.run([sys.executable, "-m", "wazuh_ocsf.cli", "status"], env=env, capture_output=True,
                          text=True, timeout=60).stdout
    assert f"  follow          stopped (pid {follow.proc.pid}), last heartbeat " in text
    assert "12 alerts spooled since " in text
