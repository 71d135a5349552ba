"""The hook against hostile paths: FIFOs and devices as the alert, a missing spool, a root start (#13)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import spool_support
from hook_support import SAMPLE_ALERT, Home, alert_bytes, argv_48
from ops_support import clean_env, cli

from wazuh_ocsf.hook import run as hook
from wazuh_ocsf.spool import dead_letter


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "ossec")


def test_a_fifo_as_the_alert_is_refused_at_once_with_a_dead_letter(home):
    fifo = home.root / "custom-wazuh-ocsf-1713795641-1.alert"
    os.mkfifo(fifo)
    result = home.run(argv_48(fifo))  # the old hook blocked here forever (timeout: 60 s)
    assert result.returncode == hook.ERR_FILE_NOT_FOUND == 6
    (record,) = home.dead_letters()
    assert record["reason"] == f"alert file {fifo} is a FIFO, not a regular file: refused"
    assert record["data"] == b"" and record["source"] == str(fifo)
    assert "is a FIFO, not a regular file" in home.log_text()


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"), ("/", "a directory")])
def test_a_device_or_directory_as_the_alert_is_refused(home, path, kind):
    result = home.run(argv_48(path))  # /dev/zero would be read until memory ran out
    assert result.returncode == hook.ERR_FILE_NOT_FOUND
    (record,) = home.dead_letters()
    assert record["reason"] == f"alert file {path} is {kind}, not a regular file: refused"


def test_a_missing_spool_keeps_the_alert_beside_the_log(home):
    home.write_config(spool_dir=home.root / "no-spool", node_name="node-1")
    data = alert_bytes(SAMPLE_ALERT)
    result = home.run(argv_48(home.alert_file(data)))
    assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE
    fallback = home.root / "logs" / "wazuh-ocsf"
    (record,) = dead_letter.iter_records(str(fallback))
    assert record["data"] == data and "spool directory" in record["reason"] and "does not exist" in record["reason"]
    assert f"alert kept in {fallback}/dead-letter/node-1-" in home.log_text()
    assert "move this file into its dead-letter/ directory" in home.log_text()
    assert oct(fallback.stat().st_mode & 0o777) == "0o750"
    assert not (home.root / "no-spool").exists()  # never created behind the administrator's back


def test_status_says_where_the_alerts_of_a_missing_spool_were_kept(home):
    home.write_config(spool_dir=home.root / "no-spool", node_name="node-1")
    assert home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT)))).returncode == hook.ERR_SPOOL_UNAVAILABLE
    env = clean_env(WAZUH_OCSF_CONFIG=str(home.root / "etc" / "wazuh-ocsf.conf"), WAZUH_OCSF_WAZUH_HOME=str(home.root))
    done = cli("status", "--json", env=env)
    data = json.loads(done.stdout)
    assert done.returncode == 1 and not data["healthy"]
    kept = home.root / "logs" / "wazuh-ocsf" / "dead-letter"
    assert data["stranded_dead_letters"] == {"directory": str(kept), "records": 1}
    assert any(f"1 alert(s) kept in {kept}" in problem for problem in data["problems"])


def _root_home(base):
    """A manager home whose spool belongs to ``nobody`` (standing in for wazuh), logs included."""
    home = Home(base / "ossec")
    for path in (home.root, home.root / "etc"):
        path.chmod(0o755)
    (home.root / "etc" / "wazuh-ocsf.conf").chmod(0o644)
    for path in (home.spool, home.logs):
        os.chown(path, spool_support.NOBODY, spool_support.NOBODY)
    return home


def _owners(root) -> dict:
    return {str(p): p.lstat().st_uid for p in root.rglob("*")}


def test_the_hook_started_as_root_writes_only_as_the_spool_owner():
    if os.geteuid() != 0 or spool_support.python_for_nobody() is None:
        pytest.skip("needs root and an interpreter the user nobody may run")
    with spool_support.world_readable_dir() as base:
        home = _root_home(base)
        good = home.alert_file(alert_bytes(SAMPLE_ALERT))
        bad = home.alert_file(b"not json\n")
        for path in (good, bad):
            path.chmod(0o644)
        python = spool_support.python_for_nobody()
        assert home.run(argv_48(good), python=python).returncode == 0
        assert home.run(argv_48(bad), python=python).returncode == hook.ERR_INVALID_JSON
        written = {p: uid for p, uid in _owners(home.spool).items()}
        assert written and set(written.values()) == {spool_support.NOBODY}, written
        assert len(home.spooled()) == 1 and len(home.dead_letters()) == 1
        assert home.log.stat().st_uid == spool_support.NOBODY


def test_a_root_hook_does_not_follow_a_link_planted_for_its_dead_letter():
    if os.geteuid() != 0 or spool_support.python_for_nobody() is None:
        pytest.skip("needs root and an interpreter the user nobody may run")
    with spool_support.world_readable_dir() as base:
        home = _root_home(base)
        victim = base / "victim"
        victim.write_bytes(b"root's file\n")
        victim.chmod(0o644)
        letters = home.spool / "dead-letter"
        letters.mkdir()
        os.chown(letters, spool_support.NOBODY, spool_support.NOBODY)
        day = subprocess.run(["date", "-u", "+%Y%m%d"], capture_output=True, text=True).stdout.strip()
        for node_day in {day}:  # what the wazuh user plants for today's dead-letter file
            os.symlink(victim, letters / f"node-1-{node_day}.ndjson")
        bad = home.alert_file(b"not json\n")
        bad.chmod(0o644)
        result = home.run(argv_48(bad), python=spool_support.python_for_nobody())
        assert result.returncode == hook.ERR_INVALID_JSON
        assert victim.read_bytes() == b"root's file\n"  # the old hook, as root, appended the alert here
        assert "could NOT be kept" in home.log_text() and "ermission denied" in home.log_text()


def test_a_root_hook_without_a_spool_keeps_the_alert_as_the_owner_of_logs():
    if os.geteuid() != 0 or spool_support.python_for_nobody() is None:
        pytest.skip("needs root and an interpreter the user nobody may run")
    with spool_support.world_readable_dir() as base:
        home = _root_home(base)
        home.write_config(spool_dir=home.root / "no-spool", node_name="node-1")
        (home.root / "etc" / "wazuh-ocsf.conf").chmod(0o644)
        alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
        alert.chmod(0o644)
        result = home.run(argv_48(alert), python=spool_support.python_for_nobody())
        assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE
        fallback = home.logs / "wazuh-ocsf"
        assert set(_owners(fallback).values()) == {spool_support.NOBODY}
        assert fallback.stat().st_uid == spool_support.NOBODY
        (record,) = dead_letter.iter_records(str(fallback))
        assert record["data"] == alert.read_bytes()
