"""``wazuh-ocsf dead-letter list|replay``: alerts the real hook rejected, a fix, a replay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ops_support import ALERTS, clean_env, cli, manager_tree, run_hook

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.operations import replay as replay_module
from wazuh_ocsf.operations.replay import replay
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.line import decode_line
from wazuh_ocsf.spool.store import Spool


@pytest.fixture
def manager(tmp_path):
    config = {
        "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "ossec" / "wazuh-ocsf" / "spool"),
        "WAZUH_OCSF_NODE_NAME": "manager-1",
        "SOURCE_LOCATION": "wazuh",
        "REGION": "eu-west-1",
        "ACCOUNT_ID": "123456789012",
        "WAZUH_OCSF_OUTPUT_DIR": str(tmp_path / "lake"),
    }
    home = manager_tree(tmp_path, config=config)
    return home, clean_env(WAZUH_OCSF_CONFIG=str(home / "etc" / "wazuh-ocsf.conf"))


def spooled_uids(spool_dir: str) -> list:
    segments = sorted(Path(spool_dir, "segments").glob("*"))
    return [decode_line(line)["finding"]["uid"] for s in segments for line in s.read_bytes().splitlines()]


def test_fix_then_replay_moves_good_records_to_the_spool_and_keeps_bad_ones(manager, tmp_path):
    home, env = manager
    conf = home / "etc" / "wazuh-ocsf.conf"
    good = conf.read_text()
    conf.write_text(good + "OCSF_CLASS=security-findings\n")  # a typo: every alert is dead-lettered
    assert run_hook(home, ALERTS / "sshd-auth-failed.json", env).returncode == 11
    assert run_hook(home, ALERTS / "fim-added.json", env).returncode == 11
    broken = tmp_path / "torn.alert"
    broken.write_bytes((ALERTS / "sudo-unicode-full-log.json").read_bytes()[:150])
    conf.write_text(good)  # the fix
    assert run_hook(home, broken, env).returncode == 7  # not JSON: stays bad whatever the config

    listed = cli("dead-letter", "list", "--json", env=env)
    assert listed.returncode == 0
    records = json.loads(listed.stdout)
    assert [(r["kind"], r["source"]) for r in records] == [
        ("alert", str(ALERTS / "sshd-auth-failed.json")),
        ("alert", str(ALERTS / "fim-added.json")),
        ("unreadable", str(broken)),
    ]
    assert "WAZUH_OCSF_OCSF_CLASS" in records[0]["reason"] and records[2]["size"] == 150
    text = cli("dead-letter", "list", env=env).stdout
    assert "3 records; after fixing the cause: wazuh-ocsf dead-letter replay" in text

    dry = cli("dead-letter", "replay", "--dry-run", "--json", env=env)
    assert dry.returncode == 1 and json.loads(dry.stdout)["replayed"] == 2
    assert len(json.loads(cli("dead-letter", "list", "--json", env=env).stdout)) == 3

    done = cli("dead-letter", "replay", "--json", env=env)
    assert done.returncode == 1, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["replayed"] == 2 and outcome["untried"] == 0
    assert [f["reason"][:28] for f in outcome["still_failing"]] == ["replay: alert is not valid J"]

    spool_dir = str(home / "wazuh-ocsf" / "spool")
    expected = [json.loads((ALERTS / n).read_text())["id"] for n in ("sshd-auth-failed.json", "fim-added.json")]
    uids = spooled_uids(spool_dir)
    assert len(uids) == 2 and all(any(i in uid for uid in uids) for i in expected)
    left = list(dead_letter.iter_records(spool_dir))
    assert len(left) == 1
    assert left[0]["data"] == broken.read_bytes()
    assert left[0]["reason"].startswith("replay: alert is not valid JSON")
    assert left[0]["first_reason"].startswith(f"alert file {broken} is not a JSON alert")
    assert [os.path.basename(p) for p in dead_letter.files(spool_dir)] == [os.path.basename(left[0]["file"])]
    assert "~replaying" not in left[0]["file"]

    # Replaying again changes nothing but the reason's timestamp: the bad record stays, once.
    assert cli("dead-letter", "replay", env=env).returncode == 1
    assert len(list(dead_letter.iter_records(spool_dir))) == 1
    assert len(spooled_uids(spool_dir)) == 2


def test_replay_maps_to_the_class_asked_for_and_keeps_spool_lines(manager):
    home, _ = manager
    settings = load_settings(path=str(home / "etc" / "wazuh-ocsf.conf"), environ={})
    spool_dir = settings.spool_dir
    dead_letter.record(spool_dir, reason="test", source="a.alert", data=(ALERTS / "fim-added.json").read_bytes(),
                       node="manager-1")
    dead_letter.record(spool_dir, reason="torn", source="seg:end", data=b'{"class_uid": 2001, "metadata": {',
                       node="manager-1")
    result = replay(settings, class_uid=2004, settle=0)
    assert result.replayed == 1 and len(result.still_failing) == 1
    lines = [line for s in Path(spool_dir, "segments").glob("*") for line in s.read_bytes().splitlines()]
    assert [decode_line(line)["class_uid"] for line in lines] == [2004]
    assert [r["source"] for r in dead_letter.iter_records(spool_dir)] == ["seg:end"]


def test_replay_stops_at_a_full_spool_and_keeps_the_rest(manager):
    home, _ = manager
    env = {"WAZUH_OCSF_SPOOL_MAX_BYTES": "1k"}
    settings = load_settings(path=str(home / "etc" / "wazuh-ocsf.conf"), environ=env)
    for name in ("fim-added.json", "sshd-auth-failed.json"):
        dead_letter.record(settings.spool_dir, reason="kept", source=name, data=(ALERTS / name).read_bytes(),
                           node="manager-1")
    result = replay(settings, settle=0)
    assert result.replayed == 0 and result.untried == 2 and "is full" in result.stopped
    assert [r["reason"] for r in dead_letter.iter_records(settings.spool_dir)] == ["kept", "kept"]
    assert Spool(settings).stats()["events"] == 0


@pytest.mark.parametrize("dry_run", [True, False])
def test_replay_reads_each_dead_letter_file_once(manager, monkeypatch, dry_run):
    home, _ = manager
    settings = load_settings(path=str(home / "etc" / "wazuh-ocsf.conf"), environ={})
    data = (ALERTS / "fim-added.json").read_bytes()
    for node in ("node-a", "node-b", "node-c", "node-d"):
        dead_letter.record(settings.spool_dir, reason="kept", source="a.alert", data=data, node=node)
    opened = []

    def counting_open(path, *args, **kwargs):
        opened.append(os.path.basename(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(dead_letter, "open", counting_open, raising=False)
    monkeypatch.setattr(replay_module, "open", counting_open, raising=False)
    result = replay(settings, dry_run=dry_run, settle=0)
    assert result.replayed == 4
    assert len(opened) == 4 and len(set(opened)) == 4, opened


def test_discard_by_id_by_age_and_all_needs_yes_and_counts(manager, tmp_path):
    """Issue 12, item 11: a record that can never be fixed can go; status stops warning about it."""
    home, env = manager
    env = dict(env, WAZUH_OCSF_WAZUH_HOME=str(home))
    spool_dir = str(tmp_path / "ossec" / "wazuh-ocsf" / "spool")
    for number in range(3):
        broken = tmp_path / f"torn-{number}.alert"
        broken.write_bytes((ALERTS / "sudo-unicode-full-log.json").read_bytes()[: 100 + number])
        assert run_hook(home, broken, env).returncode == 7
    records = json.loads(cli("dead-letter", "list", "--json", env=env).stdout)
    ids = [r["id"] for r in records]
    assert len(set(ids)) == 3 and all(len(i) == 12 for i in ids)
    assert cli("dead-letter", "list", env=env).stdout.startswith(ids[0] + "  ")

    preview = cli("dead-letter", "discard", "--id", ids[1], env=env)
    assert preview.returncode == 1
    assert preview.stdout.startswith("would discard 1 dead-letter record\n  " + ids[1])
    assert "add --yes" in preview.stderr and dead_letter.count(spool_dir) == 3

    done = cli("dead-letter", "discard", "--id", ids[1], "--yes", env=env)
    assert done.returncode == 0 and done.stdout.startswith("discarded 1 dead-letter record\n")
    assert [r["id"] for r in json.loads(cli("dead-letter", "list", "--json", env=env).stdout)] == [ids[0], ids[2]]
    again = cli("dead-letter", "discard", "--id", ids[1], "--yes", env=env)
    assert again.returncode == 1 and f"no dead-letter record has the id {ids[1]}" in again.stderr

    young = json.loads(cli("dead-letter", "discard", "--older-than", "1h", "--yes", "--json", env=env).stdout)
    assert (young["discarded"], young["matched"]) == (0, 0) and dead_letter.count(spool_dir) == 2
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert any("2 dead-letter record(s)" in w for w in status["warnings"])

    gone = json.loads(cli("dead-letter", "discard", "--all", "--yes", "--json", env=env).stdout)
    assert gone["discarded"] == 2 and sorted(r["id"] for r in gone["records"]) == sorted([ids[0], ids[2]])
    assert dead_letter.count(spool_dir) == 0
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert not any("dead-letter" in w for w in status["warnings"])
    log = (home / "logs" / "wazuh-ocsf.log").read_text()
    assert log.count("discarded dead letter ") == 3


def test_discard_by_age(manager, tmp_path):
    _home, env = manager
    spool_dir = str(tmp_path / "ossec" / "wazuh-ocsf" / "spool")
    old = dead_letter.path_for(spool_dir, "manager-1", when=0)
    os.makedirs(os.path.dirname(old), exist_ok=True)
    with open(old, "w", encoding="utf-8") as handle:
        handle.write('{"time":"1970-01-01T00:00:00.000Z","reason":"old","source":"x","data_b64":"eA=="}\n')
    dead_letter.record(spool_dir, reason="new", source="y", data=b"y", node="manager-1")
    done = cli("dead-letter", "discard", "--older-than", "30d", "--yes", env=env)
    assert done.returncode == 0 and done.stdout.startswith("discarded 1 dead-letter record\n"), done.stderr
    assert [r["reason"] for r in json.loads(cli("dead-letter", "list", "--json", env=env).stdout)] == ["new"]
