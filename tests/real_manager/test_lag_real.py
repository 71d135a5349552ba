"""Never silently behind, under the real ``wazuh-integratord`` (issue #17).

The real integratord of a home installed by ``installer/install.sh`` runs the real hook, one
alert at a time. Alerts are the real analysisd alerts of the ruleset corpus
(``tests/data/real_alerts``), re-stamped with the current time and a unique id and appended to
``alerts.json`` as analysisd writes them (one JSON line each, ``timestamp`` first). Rotations are made as
analysisd's ``OS_RotateLogs`` makes them with ``<rotate_interval>`` (``src/analysisd/alerts/
getloglocation.c``): the next file ``<YYYY>/<Mon>/ossec-alerts-<DD>-<NNN>.json`` is created
and ``alerts.json`` is re-linked to it (unlink, then a hard link).

Scenarios: a burst makes integratord fall behind (``status`` shows it, ``doctor`` advises
follow), then integratord is restarted while behind (it reopens ``alerts.json`` at its end
and loses the rest); separately, three rotations while it still reads the first file. In
both, the scheduled gap fill (``wazuh-ocsf backfill --recent``, what the flush unit runs
first) spools exactly what integratord skipped, ``status`` reports it, and after the flush
every alert of ``alerts.json`` and its archives that the ``<integration>`` block passes is in
the local sink exactly once. A quiet run: nothing to fill, and ``doctor`` keeps the hook.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from . import manager_kit

pq = pytest.importorskip("pyarrow.parquet")

from wazuh_ocsf.mapping import finding_uid  # noqa: E402
from wazuh_ocsf.operations import lag  # noqa: E402
from wazuh_ocsf.readers.alerts import MONTHS  # noqa: E402

#: Appended at once: one minute at 40 alerts/s or more, a minute or more of work for integratord.
BURST = 2400
#: The first file's burst in the rotation scenario: integratord reads it all before it reopens.
ROTATION_BURST = 600
_IDS = itertools.count(1)


class Alerts:
    """Real analysisd alerts as templates, re-stamped now; remembers every alert written."""

    def __init__(self, templates: list, alert_filter) -> None:
        self.templates = templates
        self.alert_filter = alert_filter
        self.written: list = []

    def make(self, count: int) -> list:
        out = []
        for _ in range(count):
            template = self.templates[len(self.written) % len(self.templates)]
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000"
            alert = {"timestamp": stamp, **{k: v for k, v in template.items() if k not in ("timestamp", "id")}}
            alert["id"] = f"{int(now)}.{next(_IDS)}"
            out.append(alert)
            self.written.append(alert)
        return out

    def expected(self) -> Counter:
        """Finding uid → 1 for every alert written that the <integration> block passes."""
        return Counter(finding_uid(a) for a in self.written if self.alert_filter.matches(a))


@pytest.fixture
def alerts(manager) -> Alerts:
    from test_real_corpus import load_real_corpus

    block = lag.integration_block(str(manager.home))
    assert block is not None, "the installer wrote no custom-wazuh-ocsf block"
    alert_filter = lag.block_filter(block)
    # Alerts the block passes, of every size the ruleset produced.
    templates = [a for a in load_real_corpus() if alert_filter.matches(a)]
    assert len(templates) > 500
    return Alerts(templates, alert_filter)


def status(manager) -> dict:
    done = manager.cli("status", "--json", check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def hook_or_follow(manager) -> dict:
    root = manager.home.parent
    done = manager.cli(
        "doctor", "--json", "--wazuh-home", str(manager.home), "--systemd-dir", str(root / "no-systemd"),
        "--cron-dir", str(root / "no-cron"), check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return next(c for c in json.loads(done.stdout) if c["name"] == "hook or follow")


def gap_fill(manager) -> dict:
    done = manager.cli("backfill", "--recent", "--json")
    return json.loads(done.stdout)


def delivered(manager) -> Counter:
    """Finding uids of every row of every Parquet object in the local sink."""
    uids: Counter = Counter()
    for path in manager.output_dir.rglob("*.parquet"):
        table = pq.read_table(path)
        for row in table.select(["finding"]).to_pylist():
            uids[row["finding"]["uid"]] += 1
    return uids


def hooked(manager) -> set:
    """Finding uids the hook spooled (before any gap fill or flush)."""
    return {event["finding"]["uid"] for event in manager.spooled_events()}


def wait_for_hook(manager, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(manager.spooled_events()) < count:
        assert time.monotonic() < deadline, f"the hook did not spool {count} alerts"
        time.sleep(0.2)


def settle() -> None:
    """Let the clock pass the gap fill's reordering margin, so what follows is newer by more than it."""
    time.sleep(lag.REORDER_MS / 1000 + 1)


def test_a_burst_then_a_restart_while_behind_loses_nothing_once_the_gap_fill_ran(manager, alerts):
    with manager_kit.integratord(manager) as daemon:
        daemon.append(alerts.make(20))
        daemon.wait_idle()
        quiet = status(manager)["lag"]
        assert (quiet["mode"], quiet["behind_alerts"], quiet["exact"]) == ("hook", 0, True), quiet

        daemon.append(alerts.make(BURST))
        wait_for_hook(manager, 60)
        behind = status(manager)["lag"]
        assert behind["exact"] and behind["position_source"] == "spool", behind
        assert BURST // 2 < behind["behind_alerts"] < BURST, behind
        advice = hook_or_follow(manager)
        assert advice["status"] == "warn" and "--mode follow" in advice["fix"], advice
        assert "busiest minute" in advice["detail"] and "exceeds" in advice["detail"], advice

        daemon.stop()  # a restart while behind: what it had not read is gone for it
        daemon.append(alerts.make(50))  # written while it is down
        daemon.start()  # reopens alerts.json at its end
        settle()
        daemon.append(alerts.make(30))
        daemon.wait_idle()

    expected = alerts.expected()
    handed_over = hooked(manager)
    missed = set(expected) - handed_over
    assert len(missed) > BURST // 2  # integratord really lost them
    assert handed_over <= set(expected)

    filled = gap_fill(manager)
    assert filled["skipped"] is None and filled["filled"] == len(missed), filled
    report = status(manager)
    assert report["gap_fill"]["missed_last_day"] == len(missed)
    assert f"integratord missed {len(missed)} alerts in the last day" in " ".join(report["warnings"])
    assert report["lag"]["behind_alerts"] == 0

    manager.cli("flush")
    assert delivered(manager) == expected  # every alert exactly once
    assert gap_fill(manager)["filled"] == 0  # and the next scheduled run sends nothing again
    manager.cli("flush")
    assert delivered(manager) == expected
    advice = hook_or_follow(manager)
    assert advice["status"] == "warn" and f"the gap fill found {len(missed)} alerts" in advice["detail"], advice


def _day_file(manager, counter: int | None = None) -> Path:
    now = time.localtime()  # analysisd names files by the manager's local day
    name = f"ossec-alerts-{now.tm_mday:02d}" + (f"-{counter:03d}" if counter else "") + ".json"
    path = manager.home / "logs" / "alerts" / str(now.tm_year) / MONTHS[now.tm_mon - 1] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    for directory in (path.parent, path.parent.parent):
        shutil.chown(directory, "wazuh", "wazuh")
        directory.chmod(0o770)
    path.touch()
    shutil.chown(path, "wazuh", "wazuh")
    path.chmod(0o640)
    return path


def _rotate(manager, counter: int | None = None) -> Path:
    """What analysisd's openlog() does: open the next file, then unlink alerts.json and hard-link it there."""
    path = _day_file(manager, counter)
    os.unlink(manager.alerts_json)
    os.link(path, manager.alerts_json)
    return path


@pytest.fixture
def archives(manager):
    """alerts.json linked to the day's file, as on a manager; afterwards a plain file again, no archives."""
    yield [_rotate(manager)]
    for year in (manager.home / "logs" / "alerts").glob("[0-9][0-9][0-9][0-9]"):
        shutil.rmtree(year)
    os.unlink(manager.alerts_json)
    manager.alerts_json.touch()
    shutil.chown(manager.alerts_json, "wazuh", "wazuh")
    manager.alerts_json.chmod(0o640)


def test_three_rotations_while_behind_lose_nothing_once_the_gap_fill_ran(manager, alerts, archives):
    with manager_kit.integratord(manager) as daemon:
        daemon.append(alerts.make(20))
        daemon.wait_idle()
        daemon.append(alerts.make(ROTATION_BURST))
        wait_for_hook(manager, 40)
        for counter in (1, 2, 3):
            archives.append(_rotate(manager, counter))
            daemon.append(alerts.make(100))
        behind = status(manager)["lag"]
        # The hook is still in the first file: the live one is all behind, and it says "at least".
        assert not behind["exact"] and behind["behind_alerts"] >= 100, behind
        settle()
        daemon.append(alerts.make(20))
        daemon.wait_idle()

    assert [len(p.read_bytes().splitlines()) for p in archives] == [20 + ROTATION_BURST, 100, 100, 120]
    expected = alerts.expected()
    missed = set(expected) - hooked(manager)
    assert len(missed) >= 200, "integratord did not skip the files between (the scenario did not happen)"

    filled = gap_fill(manager)
    assert filled["filled"] == len(missed), filled
    assert status(manager)["gap_fill"]["missed_last_day"] == len(missed)
    manager.cli("flush")
    assert delivered(manager) == expected


def test_a_quiet_run_has_nothing_to_fill_and_keeps_the_hook(manager, alerts):
    with manager_kit.integratord(manager) as daemon:
        for _ in range(3):
            daemon.append(alerts.make(10))
            daemon.wait_idle(quiet=0.5)
        settle()
        daemon.append(alerts.make(5))
        daemon.wait_idle()
    expected = alerts.expected()
    assert hooked(manager) == set(expected)
    report = status(manager)
    assert (report["lag"]["behind_alerts"], report["gap_fill"]["missed_last_day"]) == (0, 0)
    filled = gap_fill(manager)
    assert filled["filled"] == 0 and filled["backfill"]["already_spooled"] == len(expected) - 5, filled
    advice = hook_or_follow(manager)
    assert advice["status"] == "ok" and advice["detail"].startswith("hook mode is enough"), advice
    manager.cli("flush")
    assert delivered(manager) == expected
