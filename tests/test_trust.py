"""A compromised ``wazuh`` account against the commands root runs: nothing outside the installation changes.

Each test builds a manager home with Wazuh's real owners and modes (:mod:`manager_home`),
plants what the ``wazuh`` account can plant there (a replaced config file, symlinks for the
next temporary names, a spool pointed elsewhere), runs the real command as root, and compares
owner, mode and content of everything outside before and after.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from manager_home import ManagerHome, snapshot
from ops_support import REPO, clean_env

from wazuh_ocsf import privileges
from wazuh_ocsf.config_file import update_settings
from wazuh_ocsf.errors import ConfigError, SpoolError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plays root against the wazuh account: needs root")

SECRET = b"root's secret: must not move, change or leak\n"


@pytest.fixture
def manager():
    home = ManagerHome()
    yield home
    home.remove()


@pytest.fixture
def victims(manager):
    """Files and a directory outside the installation: root's, and another user's."""
    nobody = pwd.getpwnam("nobody")
    root_dir = manager.base / "root-only"
    root_dir.mkdir(mode=0o755)
    (root_dir / "victim-ossec").write_bytes(SECRET)
    (root_dir / "victim-ossec").chmod(0o600)
    (root_dir / "external-id").write_bytes(SECRET)
    other = manager.base / "other-user"
    other.mkdir(mode=0o700)
    (other / "data").write_bytes(SECRET)
    os.chown(other, nobody.pw_uid, nobody.pw_gid)
    os.chown(other / "data", nobody.pw_uid, nobody.pw_gid)
    return [root_dir, other]


def root_cli(manager: ManagerHome, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``wazuh-ocsf ARGS`` as root, with the installed config file (``WAZUH_OCSF_CONFIG``)."""
    environ = clean_env(**{"WAZUH_OCSF_CONFIG": str(manager.config), "WAZUH_OCSF_WAZUH_HOME": str(manager.home),
                           **env})
    return subprocess.run([sys.executable, "-m", "wazuh_ocsf.cli", *args], env=environ, capture_output=True,
                          text=True, timeout=120, cwd=str(REPO))


# -- temporary files: unpredictable names, O_EXCL|O_NOFOLLOW --------------------------------------


def test_symlinks_planted_for_the_next_pids_do_not_redirect_a_root_config_write(manager, victims):
    # What create-source does as root after CreateCustomLogSource: update etc/wazuh-ocsf.conf.
    targets = [victims[0] / "victim-ossec", victims[0] / "external-id"]
    me = os.getpid()
    for pid in range(max(me - 200, 2), me + 2000):
        manager.plant(manager.etc / f".wazuh-ocsf.conf.{pid}.tmp", target=targets[pid % 2])
    before = snapshot(*victims)
    update_settings(str(manager.config), {"external_id": "ext-123", "role_arn": "arn:aws:iam::1:role/p"})
    assert snapshot(*victims) == before
    text = manager.config.read_text()
    assert "WAZUH_OCSF_EXTERNAL_ID=ext-123" in text and "WAZUH_OCSF_SPOOL_DIR=" in text
    st = manager.config.lstat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, manager.gid, 0o640)
    assert not [p for p in manager.etc.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


def test_a_config_file_replaced_by_a_symlink_is_neither_followed_nor_copied(manager, victims):
    manager.config.unlink()
    manager.plant(manager.config, target=victims[0] / "victim-ossec")
    before = snapshot(*victims)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        update_settings(str(manager.config), {"external_id": "ext-123"})
    assert snapshot(*victims) == before
    assert all(SECRET not in p.read_bytes() for p in manager.etc.rglob("*") if p.is_file() and not p.is_symlink())


# -- a root flush: the config and the spool are read as the account that controls them ------------


@pytest.mark.parametrize("pointed_at", ["root-only", "other-user"])
def test_a_root_flush_with_a_config_wazuh_replaced_changes_nothing_outside(manager, victims, pointed_at):
    target = manager.base / pointed_at
    manager.config.unlink()
    manager.plant(manager.config, data=(
        f"WAZUH_OCSF_SPOOL_DIR={target}\nWAZUH_OCSF_OUTPUT_DIR={target}/lake\n"
        f"WAZUH_OCSF_ARCHIVE_DIR={target}/archive\nWAZUH_OCSF_NODE_NAME=x\n"
    ).encode())
    before = snapshot(*victims)
    done = root_cli(manager, "flush")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0
    assert snapshot(*victims) == before


def test_a_root_flush_reads_the_installed_config_as_wazuh_and_leaves_a_usable_spool(manager, victims):
    before = snapshot(*victims)
    done = root_cli(manager, "flush", "--json")
    assert done.returncode == 0, done.stderr
    assert snapshot(*victims) == before
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [manager.spool, *manager.spool.rglob("*")]}
    assert owners == {(manager.uid, manager.gid)}


def test_a_spool_wazuh_pointed_at_another_users_directory_does_not_make_root_that_user(manager, victims):
    # A root-only config (trusted) with the spool in a directory wazuh can write (a data disk of its own).
    config = manager.base / "root-only" / "flush.conf"
    data_disk = manager.base / "data"
    data_disk.mkdir(mode=0o755)
    os.chown(data_disk, manager.uid, manager.gid)
    spool = data_disk / "spool"
    config.write_text(f"WAZUH_OCSF_SPOOL_DIR={spool}\nWAZUH_OCSF_OUTPUT_DIR={manager.base}/lake\n")
    manager.plant(spool, target=victims[1])  # wazuh: "the spool is over there"
    before = snapshot(*victims)
    done = root_cli(manager, "flush", WAZUH_OCSF_CONFIG=str(config))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0
    assert snapshot(*victims) == before


@pytest.mark.parametrize("command", [
    ("backfill", "--since", "2024-01-01"),
    ("backfill", "--recent"),
    ("status",),
])
def test_root_backfill_and_status_with_a_config_wazuh_replaced_change_nothing_outside(manager, victims, command):
    manager.config.unlink()
    manager.plant(manager.config, data=(
        f"WAZUH_OCSF_SPOOL_DIR={victims[0]}\nWAZUH_OCSF_OUTPUT_DIR={victims[0]}/lake\nWAZUH_OCSF_NODE_NAME=x\n"
    ).encode())
    before = snapshot(*victims)
    done = root_cli(manager, *command)
    assert "Traceback" not in done.stderr, done.stderr
    assert snapshot(*victims) == before
    assert SECRET.decode().strip() not in done.stdout + done.stderr


def test_a_root_dead_letter_replay_with_a_config_wazuh_replaced_changes_nothing_outside(manager, victims):
    manager.config.unlink()
    manager.plant(manager.config, data=f"WAZUH_OCSF_SPOOL_DIR={victims[0]}\n".encode())
    before = snapshot(*victims)
    for action in ("list", "replay"):
        done = root_cli(manager, "dead-letter", action)
        assert "Traceback" not in done.stderr, done.stderr
    assert snapshot(*victims) == before


# -- create-source: stays root (root's AWS credentials), so reads no file wazuh can change ----------


def test_create_source_as_root_ignores_a_config_wazuh_can_change(manager):
    manager.config.unlink()
    manager.plant(manager.config, data=(
        b"WAZUH_OCSF_REGION=eu-west-1\nSOURCE_LOCATION=attacker\n"
        b"WAZUH_OCSF_STS_ENDPOINT_URL=http://127.0.0.1:9/steal-my-session-token\n"
    ))
    done = root_cli(manager, "create-source", "--dry-run", "--crawler-role-arn", "arn:aws:iam::1:role/c",
                    "--principal", "111122223333", WAZUH_OCSF_REGION="us-east-1")
    assert done.returncode == 0, done.stderr
    requests = json.loads(done.stdout)["requests"]
    create = next(r["params"] for r in requests if r["operation"] == "CreateCustomLogSource")
    assert create["sourceName"] == "wazuh"
    assert "attacker" not in done.stdout and "steal-my-session-token" not in done.stdout
    assert f"settings in {manager.config} are not read (uid {manager.uid}" in done.stderr


# -- the rule itself -----------------------------------------------------------------------------


def test_first_untrusted_names_the_component_another_account_controls(manager, victims):
    assert privileges.first_untrusted(str(victims[0] / "victim-ossec")) is None
    assert privileges.first_untrusted(str(victims[0] / "missing")) is None
    assert privileges.first_untrusted(str(manager.config)).st_uid == manager.uid  # etc/ is wazuh's
    assert privileges.first_untrusted(str(manager.spool)).st_uid == manager.uid
    link = manager.base / "root-only" / "link"
    link.symlink_to(manager.logs / "x")  # root's symlink: followed, into wazuh's logs/
    assert privileges.first_untrusted(str(link)).st_ino == manager.logs.stat().st_ino
    sticky = Path("/tmp")
    assert privileges.first_untrusted(str(sticky / f"no-such-{os.getpid()}")).st_ino == sticky.stat().st_ino
    group_writable = manager.base / "root-only" / "shared"
    group_writable.mkdir(mode=0o770)
    group_writable.chmod(0o770)
    assert privileges.first_untrusted(str(group_writable / "f")).st_ino == group_writable.stat().st_ino


def test_root_refuses_a_spool_root_owns_but_a_group_may_write(manager):
    shared = manager.base / "root-only-shared"
    shared.mkdir()
    shared.chmod(0o770)
    with pytest.raises(SpoolError, match="refusing to use the spool"):
        privileges.become_spool_owner(str(shared))


def test_a_flush_as_wazuh_on_a_missing_spool_does_not_recreate_it(manager):
    from wazuh_ocsf import cli, logfile  # noqa: F401 -- imported while root can read them
    from wazuh_ocsf.commands import flush as flush_command  # noqa: F401
    from wazuh_ocsf.sinks import local  # noqa: F401

    data_disk = manager.base / "data"  # the spool's parent is wazuh's: it could recreate the spool there
    data_disk.mkdir(mode=0o755)
    os.chown(data_disk, manager.uid, manager.gid)
    spool = data_disk / "spool"
    env = {"WAZUH_OCSF_CONFIG": os.devnull, "WAZUH_OCSF_WAZUH_HOME": str(manager.home),
           "WAZUH_OCSF_SPOOL_DIR": str(spool), "WAZUH_OCSF_OUTPUT_DIR": str(manager.base / "lake")}
    child = os.fork()
    if child == 0:  # the flush service: wazuh-ocsf flush as wazuh
        code = 99
        try:
            manager.as_wazuh()
            os.environ.update(env)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            code = cli.main(["flush"])
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert not spool.exists()
