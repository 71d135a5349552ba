"""The hook path's lag behind alerts.json, the scheduled gap fill and their report in ``status``.

A manager's home is built under ``tmp_path``: ``etc/ossec.conf`` with (or without) the
integration block, ``logs/alerts/alerts.json`` with alerts stamped relative to now, and a
spool that the "hook" fills through the real Spool with the real mapper, as integratord
would have left it: every alert up to a point, a gap where integratord was restarted, then
every alert again.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alert_tree import alert, line, uid
from flush_support import settings_env
from ops_support import clean_env, cli
from test_backfill import spooled as spooled_uids

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.flush.delivered_index import DeliveredIndex
from wazuh_ocsf.mapping import map_alert
from wazuh_ocsf.operations import lag
from wazuh_ocsf.operations.status import collect, render
from wazuh_ocsf.readers import gap_fill
from wazuh_ocsf.spool.line import encode_event
from wazuh_ocsf.spool.store import Spool

BLOCK = """<ossec_config>
  <integration>
    <name>custom-wazuh-ocsf</name>
    <level>{level}</level>
{extra}    <alert_format>json</alert_format>
  </integration>
</ossec_config>
"""


def home(tmp_path: Path, *, level: int = 3, extra: str = "", block: bool = True, **settings: str):
    """A manager home with our block (``<level>``) and an empty spool; returns its settings."""
    (tmp_path / "etc").mkdir(parents=True)
    (tmp_path / "etc" / "ossec.conf").write_text(
        "<ossec_config>\n  <global/>\n</ossec_config>\n" + (BLOCK.format(level=level, extra=extra) if block else "")
    )
    (tmp_path / "logs" / "alerts").mkdir(parents=True)
    env = settings_env(tmp_path, output_dir=str(tmp_path / "lake"), **settings)
    Spool(load_settings(environ=env), create=True)
    return load_settings(environ=env), env


def recent_alerts(count: int, *, end: datetime | None = None, step=timedelta(seconds=2), levels=None) -> list:
    """``count`` alerts one ``step`` apart, the last at ``end`` (default: now)."""
    end = end or datetime.now(timezone.utc)
    return [
        alert(end - (count - 1 - i) * step, i + 1, level=(levels[i % len(levels)] if levels else 5))
        for i in range(count)
    ]


def write_alerts(settings, alerts: list, *, torn: bytes = b"") -> Path:
    path = Path(settings.wazuh_home) / "logs" / "alerts" / "alerts.json"
    with open(path, "ab") as handle:
        handle.write(b"".join(map(line, alerts)) + torn)
    return path


def hook(settings, alerts: list) -> None:
    """What the hook does for each alert integratord hands over: map it and append one spool line."""
    spool = Spool(settings)
    for item in alerts:
        spool.append(encode_event(map_alert(item, class_uid=settings.ocsf_class)))


def ms(item: dict) -> int:
    return int(datetime.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


# -- measuring -----------------------------------------------------------------------------------


def test_alerts_after_counts_what_passes_the_filter_and_ignores_a_line_in_the_writing(tmp_path):
    settings, _ = home(tmp_path)
    alerts = recent_alerts(40, levels=[5, 2])
    path = write_alerts(settings, alerts, torn=b'{"timestamp":"2030-01-01T00:00:00.000+0000","rule":{"le')
    position = ms(alerts[9])
    behind = lag.alerts_after(str(path), position, alert_filter=lag.AlertFilter(level=3))
    assert behind.exact
    assert behind.alerts == len([a for a in alerts[10:] if a["rule"]["level"] >= 3]) == 15
    assert behind.oldest_ms == ms(alerts[10]) and behind.newest_ms == ms(alerts[38])
    unfiltered = lag.alerts_after(str(path), position)
    assert unfiltered.alerts == 30 and unfiltered.newest_ms == ms(alerts[39])


def test_alerts_after_is_a_lower_bound_past_its_cap_or_the_start_of_the_file(tmp_path):
    settings, _ = home(tmp_path)
    alerts = recent_alerts(200)
    path = write_alerts(settings, alerts)
    size = len(line(alerts[0]))
    capped = lag.alerts_after(str(path), ms(alerts[0]), max_bytes=50 * size)
    assert not capped.exact and 45 <= capped.alerts <= 52
    rotated = lag.alerts_after(str(path), ms(alerts[0]) - 3_600_000)  # the position is in an older file
    assert not rotated.exact and rotated.alerts == 200


def test_lines_backwards_yields_every_complete_line_with_its_offset(tmp_path):
    path = tmp_path / "f"
    lines = [b"x" * n for n in (0, 5, 3000, 1, 70000, 2)]
    path.write_bytes(b"\n".join(lines) + b"\ntorn")
    lag_chunk = lag._CHUNK
    lag._CHUNK = 4096  # several chunks, and a line longer than one
    try:
        with open(path, "rb") as handle:
            got = list(lag._lines_backwards(handle, path.stat().st_size, 1 << 30))
    finally:
        lag._CHUNK = lag_chunk
    offsets, offset = [], 0
    for item in lines:
        offsets.append(offset)
        offset += len(item) + 1
    assert got == list(zip(reversed(lines), reversed(offsets)))


def test_position_comes_from_the_spool_then_from_the_delivered_index(tmp_path):
    settings, _ = home(tmp_path)
    alerts = recent_alerts(10)
    assert lag.hook_position(settings) == (None, None)
    hook(settings, alerts[:6])
    hook(settings, [alerts[2]])  # an older line appended last (a gap fill) does not move the position back
    assert lag.hook_position(settings) == (ms(alerts[5]), "spool")
    index = DeliveredIndex(settings.spool_dir)
    index.record("seg-1", {"20990101": [uid(alerts[8])]})
    assert lag.hook_position(settings) == (ms(alerts[8]), "delivered")


def test_status_reports_the_lag_and_turns_unhealthy_past_the_threshold(tmp_path):
    settings, _env = home(tmp_path, lag_max_age="60")
    alerts = recent_alerts(100, step=timedelta(seconds=3))  # the last 5 minutes
    write_alerts(settings, alerts)
    hook(settings, alerts[:70])
    data = collect(settings)
    behind = data["lag"]
    assert (behind["mode"], behind["behind_alerts"], behind["exact"], behind["position_source"]) == (
        "hook", 30, True, "spool"
    )
    assert 85 <= behind["behind_seconds"] <= 100  # alert 71 was written 87 s ago
    assert not data["healthy"]
    assert any(p.startswith("integratord is 30 alerts (8") for p in data["problems"]), data["problems"]
    hook(settings, alerts[70:])
    data = collect(settings)
    assert (data["lag"]["behind_alerts"], data["lag"]["behind_seconds"]) == (0, 0.0)
    assert not any("behind" in p for p in data["problems"])
    assert "  lag             hook mode: caught up; newest alert handed over" in render(data)


def test_status_lag_for_follow_is_its_offset_against_the_end_of_the_file(tmp_path):
    settings, _ = home(tmp_path, block=False)
    alerts = recent_alerts(20)
    path = write_alerts(settings, alerts)
    offset = len(b"".join(map(line, alerts[:12])))
    stat = path.stat()
    state = Path(Spool(settings).state_dir) / "follow.json"
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({"dev": stat.st_dev, "ino": stat.st_ino, "offset": offset, "label": "alerts.json"}))
    behind = lag.measure(settings)
    assert (behind["mode"], behind["behind_alerts"], behind["exact"]) == ("follow", 8, True)


# -- the gap fill --------------------------------------------------------------------------------


def restart_gap(tmp_path, **settings_values):
    """integratord handed over alerts 1-30, was restarted (31-70 lost), then handed over 71-100."""
    settings, env = home(tmp_path, **settings_values)
    alerts = recent_alerts(100, step=timedelta(seconds=5), levels=[5, 5, 5, 1])
    write_alerts(settings, alerts)
    passed = [a for a in alerts if a["rule"]["level"] >= 3]
    hook(settings, [a for a in passed if a["rule"]["firedtimes"] <= 30])
    hook(settings, [a for a in passed if a["rule"]["firedtimes"] > 70])
    return settings, env, alerts, passed


def test_gap_fill_spools_exactly_what_integratord_skipped_once(tmp_path, monkeypatch):
    monkeypatch.setattr(lag, "SEGMENT_TAIL_BYTES", 4096)  # the filled lines hide the hook's from the tail
    settings, _env, _alerts, passed = restart_gap(tmp_path)
    result = gap_fill.gap_fill(settings)
    lost = [a for a in passed if 30 < a["rule"]["firedtimes"] <= 70]
    assert result.skipped is None and result.filled == len(lost) == 30
    until = ms(passed[-1]) - lag.REORDER_MS  # the last 10 s before the position are left for integratord
    handed_over = [a for a in passed if not 30 < a["rule"]["firedtimes"] <= 70]
    assert result.backfill.already_spooled == len([a for a in handed_over if ms(a) < until]) == 42
    uids = spooled_uids(settings)
    assert sorted(uids) == sorted(uid(a) for a in passed)  # level 1 alerts (filtered by <level>) are not spooled
    assert len(uids) == len(set(uids))
    again = gap_fill.gap_fill(settings)
    assert again.filled == 0 and again.backfill.alerts <= 3  # resumes where it stopped: reads only the end
    assert spooled_uids(settings) == uids
    state = gap_fill.load(settings.spool_dir)
    assert gap_fill.missed_since(state, time.time() - 86400) == 30
    data = collect(settings)
    assert (data["lag"]["behind_alerts"], data["lag"]["position_time"]) == (0, ms(passed[-1]) / 1000)
    assert data["gap_fill"]["missed_last_day"] == 30
    assert "integratord missed 30 alerts in the last day" in " ".join(data["warnings"])
    assert "  gap fill        integratord missed 30 alerts in the last day; last run " in render(data)


def test_gap_fill_after_a_flush_uses_the_delivered_index_and_never_resends(tmp_path):
    settings, env, _alerts, passed = restart_gap(tmp_path)
    assert cli("flush", env=clean_env(**env)).returncode == 0
    assert Spool(settings).stats()["events"] == 0
    assert lag.hook_position(settings)[1] == "delivered"
    done = cli("backfill", "--recent", "--json", env=clean_env(**env))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["filled"] == 30 and report["backfill"]["already_delivered"] == 42
    assert cli("flush", env=clean_env(**env)).returncode == 0
    from flush_support import tree_uids

    delivered = tree_uids(tmp_path / "lake")
    assert sorted(delivered) == sorted(uid(a) for a in passed)


def test_gap_fill_does_nothing_outside_hook_mode_or_with_event_location(tmp_path):
    settings, _ = home(tmp_path / "a", block=False)
    assert gap_fill.gap_fill(settings).skipped.startswith("not in hook mode")
    settings, _ = home(tmp_path / "b", extra="    <event_location>web-01</event_location>\n")
    assert "<event_location>" in gap_fill.gap_fill(settings).skipped
    settings, _ = home(tmp_path / "c")
    assert gap_fill.gap_fill(settings).skipped.startswith("nothing was spooled or delivered yet")
    assert gap_fill.load(settings.spool_dir)["last_run"]["filled"] == 0


def test_gap_fill_looks_back_only_as_far_as_its_window(tmp_path):
    settings, _env, _alerts, passed = restart_gap(tmp_path, gap_fill_window="250s")
    started = time.time()
    result = gap_fill.gap_fill(settings)
    lost = [a for a in passed if 30 < a["rule"]["firedtimes"] <= 70]
    in_window = [a for a in lost if ms(a) >= (started - 250) * 1000]
    assert 10 < len(in_window) < 30
    assert result.filled in (len(in_window) - 1, len(in_window))  # the clock moved on by less than 5 s


def test_backfill_needs_since_or_recent(tmp_path):
    _settings, env = home(tmp_path)
    done = cli("backfill", env=clean_env(**env))
    assert done.returncode != 0 and "--since" in done.stderr and "Traceback" not in done.stderr
    done = cli("backfill", "--recent", "--since", "2024-01-01", env=clean_env(**env))
    assert done.returncode != 0 and "--recent" in done.stderr


@pytest.mark.parametrize("value", ["0", "1.5", "half"])
def test_hook_safe_fraction_is_validated(tmp_path, value):
    from wazuh_ocsf.errors import ConfigError

    with pytest.raises(ConfigError, match="WAZUH_OCSF_HOOK_SAFE_FRACTION"):
        load_settings(environ={**settings_env(tmp_path), "WAZUH_OCSF_HOOK_SAFE_FRACTION": value})


# -- doctor: hook or follow ----------------------------------------------------------------------


def doctor_home(tmp_path: Path):
    """A manager tree as the installer leaves it (the real integration), local output only."""
    from test_doctor import local_home

    root = local_home(tmp_path)
    (root / "logs" / "alerts").mkdir()
    return root


def hook_or_follow(home_dir: Path):
    from ops_support import me

    from wazuh_ocsf.operations.doctor import Context, Layout, check_config, check_hook_capacity, run_checks

    user, group = me()
    layout = Layout(str(home_dir), user=user, group=group)
    ctx = Context(layout, config_path=str(home_dir / "etc" / "wazuh-ocsf.conf"), environ={})
    config, check = run_checks(ctx, checks=(check_config, check_hook_capacity))
    assert config.status == "ok", config
    return check, ctx.settings


needs_root = pytest.mark.skipif(__import__("os").geteuid() != 0, reason="root-owned integration files")


@needs_root
def test_doctor_advises_follow_for_a_burst_past_the_timed_hook(tmp_path):
    root = doctor_home(tmp_path)
    burst = recent_alerts(6000, step=timedelta(milliseconds=9))  # 111 alerts/s for 54 s
    (root / "logs" / "alerts" / "alerts.json").write_bytes(b"".join(map(line, burst)))
    check, settings = hook_or_follow(root)
    assert check.status == "warn", check
    assert check.detail.startswith("hook mode; busiest minute ")
    assert "the hook takes " in check.detail and "exceeds" in check.detail
    assert "--mode follow" in check.fix
    assert Spool(settings).stats()["events"] == 0  # the timed runs used a throw-away spool


@needs_root
def test_doctor_keeps_the_hook_for_a_quiet_manager_unless_integratord_missed_alerts(tmp_path):
    root = doctor_home(tmp_path)
    quiet = recent_alerts(30, step=timedelta(seconds=100))
    (root / "logs" / "alerts" / "alerts.json").write_bytes(b"".join(map(line, quiet)))
    check, settings = hook_or_follow(root)
    assert check.status == "ok", check
    assert check.detail.startswith("hook mode is enough: busiest minute 0.0 alerts/s, mean 0.01/s"), check
    state = Path(gap_fill.path_of(settings.spool_dir))
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({"fills": [[time.time() - 600, 41]]}))
    check, _ = hook_or_follow(root)
    assert check.status == "warn" and "the gap fill found 41 alerts integratord missed in the last day" in check.detail


def test_the_flush_schedule_runs_the_gap_fill(repo_root):
    import shlex
    import sys

    sys.path.insert(0, str(repo_root / "installer"))
    from wazuh_ocsf_installer import schedule

    from wazuh_ocsf.cli import build_parser

    service = schedule.render_service(home="/var/ossec", venv="/v", config="/c", user="wazuh", group="wazuh")
    lines = service.splitlines()
    # "-": a failed gap fill never stops the flush
    pre = lines.index("ExecStartPre=-/v/bin/wazuh-ocsf backfill --recent")
    assert pre < lines.index("ExecStart=/v/bin/wazuh-ocsf flush")
    cron = schedule.render_cron(interval=300, venv="/v", config="/c", user="wazuh").splitlines()
    assert "*/5 * * * * wazuh /v/bin/wazuh-ocsf backfill --recent 2>&1 | logger -t wazuh-ocsf-gap-fill" in cron
    args = build_parser().parse_args(shlex.split(lines[pre].split("wazuh-ocsf ", 1)[1]))
    assert args.recent and args.since is None


def test_gap_fill_waits_for_a_running_backfill(tmp_path):
    from wazuh_ocsf.readers.backfill import _lock

    settings, _env, _alerts, _passed = restart_gap(tmp_path)
    with _lock(Spool(settings)):
        result = gap_fill.gap_fill(settings)
    assert result.skipped.startswith("a backfill holds the spool") and result.filled == 0
    assert gap_fill.gap_fill(settings).filled == 30  # the next scheduled run does it
