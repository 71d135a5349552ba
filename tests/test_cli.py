from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import pytest

import wazuh_ocsf.commands
from wazuh_ocsf.cli import build_parser
from wazuh_ocsf.commands import COMMANDS


def test_every_command_module_is_registered():
    modules = {f"wazuh_ocsf.commands.{info.name}" for info in pkgutil.iter_modules(wazuh_ocsf.commands.__path__)}
    assert modules == set(COMMANDS.values())


def test_parser_offers_every_command():
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS)


# -- an administrator's first commands (issue 12, items 9 and 10) ---------------------------------


def test_a_config_file_that_does_not_exist_is_an_error(tmp_path):
    from ops_support import clean_env, cli

    for command in ("status", "doctor", "flush"):
        done = cli("--config", str(tmp_path / "typo.conf"), command, env=clean_env())
        assert done.returncode == 3, (command, done.stdout, done.stderr)
        expected = f"ERROR: configuration: --config: {tmp_path}/typo.conf does not exist (or is not a file)\n"
        assert done.stderr == expected


def test_doctor_takes_the_wazuh_home_from_the_config_file_it_is_given(tmp_path):
    from ops_support import clean_env, cli

    home = tmp_path / "manager"
    (home / "etc").mkdir(parents=True)
    (home / "VERSION.json").write_text('{"version": "v4.14.7"}\n')
    (home / "etc" / "ossec.conf").write_text("<ossec_config></ossec_config>\n")
    conf = tmp_path / "elsewhere.conf"
    conf.write_text(f"WAZUH_OCSF_WAZUH_HOME={home}\nWAZUH_OCSF_OUTPUT_DIR={tmp_path}/lake\n")
    done = cli("--config", str(conf), "doctor", "--json", env=clean_env())
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    assert checks["wazuh version"] == {"name": "wazuh version", "status": "ok", "detail": "Wazuh 4.14.7", "fix": ""}
    assert f"{home}/etc/ossec.conf has no <integration> block" in checks["ossec.conf integration"]["detail"]
    assert "/var/ossec" not in done.stdout


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["doctor"], ["map", "--help"]])
def test_a_reader_that_goes_away_is_no_traceback(tmp_path, command):
    """`wazuh-ocsf status | true` and `wazuh-ocsf doctor | head -1`: the pipe closes before we write."""
    from ops_support import REPO, clean_env

    env = clean_env(WAZUH_OCSF_WAZUH_HOME=str(tmp_path), WAZUH_OCSF_OUTPUT_DIR=str(tmp_path / "lake"))
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte, as with `| true`
    try:
        done = subprocess.run(
            [sys.executable, "-m", "wazuh_ocsf.cli", *command],
            stdout=write, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO), timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
