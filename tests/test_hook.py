"""The integration as integratord runs it: the real file, real process, temp alert file, each argv layout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spool_support
from hook_support import (
    INTEGRATION,
    PYTHON39,
    REDIRECT,
    SAMPLE_ALERT,
    Home,
    alert_bytes,
    argv_48,
    finding_uid_of,
)

from wazuh_ocsf.hook import run as hook
from wazuh_ocsf.mapping import finding_uid
from wazuh_ocsf.spool import dead_letter

LOG_LINE = re.compile(r"^\d{4} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} wazuh-ocsf: (ERROR|DEBUG): .+$")
FORBIDDEN_IMPORTS = (
    "boto3",
    "pyarrow",
    "filelock",
    "requests",
    "logging",
    "dataclasses",
    "typing",
    "argparse",
    # the house style's list for the hook path, too
    "datetime",
    "hashlib",
    "uuid",
    "base64",
    "socket",
)
# What an alert that is spooled must not import either: json (through wazuh_ocsf.json_codec,
# which drives _json directly) and re cost the hook half its run time. The dead-letter path
# may import them (json.JSONDecodeError).
FORBIDDEN_ON_SUCCESS = ("json", "re", "enum", "collections", "functools", "zlib")


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "ossec")


def layouts(alert: Path, options: Path) -> dict:
    """Every argv integratord has used (empty strings are real arguments)."""
    return {
        "4.0-4.6 quiet": [alert, "", "", " " + REDIRECT],  # OS_StrBreak leaves the leading space
        "4.0-4.6 debug": [alert, "", "", "debug"],
        "4.7 quiet": [alert, "", "", "", options, REDIRECT],
        "4.7 quiet, redirect glued to options": [alert, "", "", "", f"{options} {REDIRECT}"],
        "4.7 debug": [alert, "", "", "debug", options],
        "4.8+ quiet": [alert, "", "", "", "", "10", "3", REDIRECT],
        "4.8+ quiet with options": [alert, "", "", "", options, "10", "3", REDIRECT],
        "4.8+ debug": [alert, "", "", "debug", options, "0", "0", REDIRECT],
    }


LAYOUT_NAMES = list(layouts(Path("a"), Path("o")))


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_argv_layout_spools_the_alert(home, layout):
    alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
    options = home.options_file({"ocsf_class": "security_finding"})
    result = home.run(layouts(alert, options)[layout])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    (event,) = home.spooled()
    assert finding_uid_of(event) == finding_uid(SAMPLE_ALERT)
    assert event["class_uid"] == 2001
    log = home.log_text()
    if "debug" in layout:
        assert log and all(LOG_LINE.match(line) for line in log.splitlines())
        assert "DEBUG: alert 1713795641.1000 of 2024-04-22T14:20:41.218+0000 spooled as class 2001" in log
    else:
        assert log == ""  # quiet unless asked


@pytest.mark.parametrize("layout", ["4.0-4.6 quiet", "4.8+ debug"])
def test_the_script_runs_under_python_3_9(home, layout):
    if not os.access(PYTHON39, os.X_OK):
        pytest.skip(f"Python 3.9 is not at {PYTHON39}")
    alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
    options = home.options_file({"ocsf_class": "security_finding"})
    result = home.run(layouts(alert, options)[layout], python=PYTHON39)
    assert (result.returncode, result.stderr) == (0, "")
    assert [finding_uid_of(e) for e in home.spooled()] == [finding_uid(SAMPLE_ALERT)]


def _imported_modules(stderr: str) -> set:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def _run_as_integratord_does(data: bytes, *options: str) -> subprocess.CompletedProcess:
    """The integration's exact command line plus ``options``, as an unprivileged user like ``wazuh``.

    When the tests run as root, as ``nobody``: a hook started as root first consults
    ``wazuh_ocsf.privileges`` (which imports logging), not the path integratord runs.
    """
    with spool_support.world_readable_dir() as base:
        home = Home(base / "ossec")
        alert = home.alert_file(data)
        python, preexec = os.path.realpath(sys.executable), None
        if os.geteuid() == 0:
            python, preexec = spool_support.python_for_nobody(), spool_support.as_nobody
            if python is None:
                pytest.skip("needs an interpreter the user nobody may run")
            for path in [base, *base.rglob("*")]:
                os.chown(path, spool_support.NOBODY, spool_support.NOBODY)
        command = [python, *options, "-I", "-S", str(INTEGRATION), *map(str, argv_48(alert))]
        return subprocess.run(
            command, env=home.env(python), capture_output=True, text=True, cwd=home.root, timeout=60, preexec_fn=preexec
        )


@pytest.mark.parametrize("data", [alert_bytes(SAMPLE_ALERT), b"not json"], ids=["spooled", "dead-lettered"])
def test_the_hook_imports_nothing_heavy(data):
    result = _run_as_integratord_does(data, "-X", "importtime")
    assert result.returncode == (0 if data.startswith(b"{") else hook.ERR_INVALID_JSON), result.stderr[-2000:]
    modules = _imported_modules(result.stderr)
    assert "wazuh_ocsf.hook.run" in modules and "wazuh_ocsf.mapping" in modules  # the probe works
    heavy = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN_IMPORTS)
    assert heavy == []
    if data.startswith(b"{"):
        assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN_ON_SUCCESS) == []
        assert "wazuh_ocsf.mapping.detection_finding" not in modules  # only the class mapped


NOT_JSON = "is not a JSON alert: alert is not valid JSON"
MALFORMED = {
    "not JSON": (b"this is not JSON\n", hook.ERR_INVALID_JSON, NOT_JSON),
    "truncated": (alert_bytes(SAMPLE_ALERT)[:150], hook.ERR_INVALID_JSON, NOT_JSON),
    "not UTF-8": (b'{"rule": {"id": "\xff\xfe"}}\n', hook.ERR_INVALID_JSON, "alert is not valid UTF-8"),
    "empty": (b"", hook.ERR_INVALID_JSON, "alert is empty"),
    "JSON array": (b"[1, 2]\n", hook.ERR_INVALID_JSON, "not a JSON object"),
    "no rule": (
        alert_bytes({k: v for k, v in SAMPLE_ALERT.items() if k != "rule"}),
        hook.ERR_UNMAPPABLE,
        "alert 1713795641.1000 of 2024-04-22T14:20:41.218+0000 cannot be mapped",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_alert_is_kept_in_the_dead_letter_directory(home, case):
    data, code, reason = MALFORMED[case]
    alert = home.alert_file(data)
    result = home.run(argv_48(alert))
    assert result.returncode == code
    assert home.spooled() == []
    (record,) = home.dead_letters()
    assert record["data"] == data and record["source"] == str(alert) and reason in record["reason"]
    assert record["node"] == "node-1"
    (line,) = home.log_text().splitlines()  # one clear line
    assert LOG_LINE.match(line) and reason in line and f"(exit {code})" in line
    assert f"alert kept in {home.spool}/dead-letter/node-1-" in line
    assert result.stderr == line + "\n"  # integratord logs our last output line in ossec.log


def test_a_missing_alert_file_is_error_6_and_leaves_a_trace(home):
    missing = home.root / "custom-wazuh-ocsf-0-0.alert"
    result = home.run(argv_48(missing))
    assert result.returncode == hook.ERR_FILE_NOT_FOUND == 6
    (record,) = home.dead_letters()
    assert record["data"] == b"" and record["source"] == str(missing)
    assert f"alert file {missing} does not exist" in home.log_text()


@pytest.mark.parametrize("args", [[], [REDIRECT], [""], ["a"] * 9], ids=["none", "redirect only", "empty", "too many"])
def test_bad_arguments_are_error_2(home, args):
    result = home.run(args)
    assert result.returncode == hook.ERR_BAD_ARGUMENTS == 2
    assert "bad arguments" in home.log_text()
    assert not (home.spool / "segments").exists()


def test_debug_logs_details_but_never_secrets(home):
    secrets = {"api_key": "sk-SECRET-api-key-123", "hook_url": "https://hooks.example.com/T000/SECRET-url-456"}
    external_id = "SECRET-external-id-789"
    home.write_config(spool_dir=home.spool, node_name="node-1", external_id=external_id)
    runs = [
        home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT)), debug=True, **secrets)),
        home.run(argv_48(home.alert_file(b"not json"), debug=True, **secrets)),
        home.run(argv_48(home.root / "missing.alert", debug=True, **secrets)),
        home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT)), debug=True, options="/nope.options", **secrets)),
    ]
    assert [r.returncode for r in runs] == [0, hook.ERR_INVALID_JSON, hook.ERR_FILE_NOT_FOUND, hook.ERR_CONFIG]
    log = home.log_text()
    assert "DEBUG: alert file" in log and "DEBUG: settings from" in log and "spooled as class 2001" in log
    everything = log + "".join(r.stdout + r.stderr for r in runs)
    everything += "".join(str(r) for r in home.dead_letters())
    for secret in (*secrets.values(), external_id, "SECRET"):
        assert secret not in everything


def test_options_switch_the_class_to_one_with_a_destination(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", detection_finding_source="wazuh-detections")
    alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
    result = home.run(argv_48(alert, options=home.options_file({"ocsf_class": "detection_finding"})))
    assert (result.returncode, result.stderr) == (0, "")
    (event,) = home.spooled()
    assert event["class_uid"] == 2004 and finding_uid_of(event) == finding_uid(SAMPLE_ALERT)


OPTION_ERRORS = {
    "class without destination": (
        {"ocsf_class": "detection_finding"},
        "<options> ocsf_class: detection_finding has no destination: set WAZUH_OCSF_DETECTION_FINDING_SOURCE",
    ),
    "unknown class": ({"ocsf_class": "network_activity"}, "expected auto, security_finding (2001) or detection"),
    "unknown key": ({"ocsf_class": "security_finding", "colour": "red"}, "unknown key(s) 'colour'; known keys: "),
    "not an object": ('["detection_finding"]', "<options>: expected a JSON object"),
    "not JSON": ("{ocsf_class: detection}", "<options>: expected a JSON object, e.g."),
    "not a string": ({"ocsf_class": ["a"]}, "<options> ocsf_class: expected a string, got list"),
}


@pytest.mark.parametrize("case", list(OPTION_ERRORS))
def test_bad_options_are_a_config_error_and_keep_the_alert(home, case):
    options, message = OPTION_ERRORS[case]
    data = alert_bytes(SAMPLE_ALERT)
    result = home.run(argv_48(home.alert_file(data), options=home.options_file(options)))
    assert result.returncode == hook.ERR_CONFIG
    assert message in home.log_text()
    assert home.spooled() == []
    assert [r["data"] for r in home.dead_letters()] == [data]


def test_a_bad_setting_is_a_config_error_naming_it(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", fsync="sometimes")
    data = alert_bytes(SAMPLE_ALERT)
    result = home.run(argv_48(home.alert_file(data)))
    assert result.returncode == hook.ERR_CONFIG
    assert "configuration error: WAZUH_OCSF_FSYNC: expected one of append, rotate, never" in home.log_text()
    # The spool directory still came from the (otherwise broken) file: the alert is kept there.
    assert [r["data"] for r in home.dead_letters()] == [data]


def test_a_missing_spool_directory_is_error_12_without_hanging(home):
    home.write_config(spool_dir=home.root / "no-spool", node_name="node-1")
    result = home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))))
    assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE
    line = home.log_text()
    assert f"spool directory {home.root}/no-spool does not exist" in line
    assert f"alert kept in {home.root}/logs/wazuh-ocsf/dead-letter/" in line  # test_hook_trust.py
    assert not (home.root / "no-spool").exists()


def test_a_spool_the_hook_user_cannot_write_is_error_12():
    python = spool_support.python_for_nobody()
    if python is None:
        pytest.skip("needs root and an interpreter the user nobody may run")
    with spool_support.world_readable_dir() as base:
        home = Home(base / "ossec")
        for path in (home.root, home.root / "etc", home.root / "etc" / "wazuh-ocsf.conf"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        os.chown(home.logs, spool_support.NOBODY, spool_support.NOBODY)  # the log is writable, the spool not
        alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
        alert.chmod(0o644)
        result = home.run(argv_48(alert), python=python, preexec_fn=spool_support.as_nobody)
        assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE, result.stderr
        assert f"cannot open the spool lock {home.spool}/.lock: permission denied" in home.log_text()
        assert home.log.stat().st_uid == spool_support.NOBODY


def _limit_file_size(limit: int):
    def preexec() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG/short writes instead of a core dump
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_write_the_file_system_refuses_is_error_12_and_is_truncated_back(home):
    assert home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT)))).returncode == 0
    (segment,) = (home.spool / "segments").glob("*.open")
    before = segment.read_bytes()
    second = dict(SAMPLE_ALERT, id="1713795642.2000")
    result = home.run(argv_48(home.alert_file(alert_bytes(second))), preexec_fn=_limit_file_size(len(before) + 100))
    assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE
    assert "cannot append to spool segment" in home.log_text()
    assert segment.read_bytes() == before  # no partial line left behind


def test_a_full_disk_is_error_12(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        home = Home(tmp_path / "ossec", spool_dir=mount / "spool")
        (mount / "spool").mkdir()
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        result = home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))))
        assert result.returncode == hook.ERR_SPOOL_UNAVAILABLE
        assert "no space left on the device" in home.log_text()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_at_the_cap_the_alert_is_refused_counted_and_logged(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", spool_max_bytes=3000)
    alerts = [home.alert_file(alert_bytes(dict(SAMPLE_ALERT, id=f"1.{n}"))) for n in range(4)]
    codes = [home.run(argv_48(alert)).returncode for alert in alerts]
    accepted = len(home.spooled())
    assert accepted >= 1 and codes == [0] * accepted + [hook.ERR_SPOOL_FULL] * (4 - accepted)
    refusals = [line for line in home.log_text().splitlines() if "refused" in line]
    assert len(refusals) == 4 - accepted
    assert "WAZUH_OCSF_SPOOL_MAX_BYTES=3000" in refusals[0] and f"(exit {hook.ERR_SPOOL_FULL})" in refusals[0]
    assert (home.spool / "state" / "refused").stat().st_size == 4 - accepted
    assert home.dead_letters() == []  # refused means refused: the cap holds for dead letters too


def test_lock_held_by_another_process_gives_an_own_segment_and_exit_0(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", lock_timeout="0.1")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(home.spool / ".lock"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        result = home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT)), debug=True))
        assert (result.returncode, result.stderr) == (0, "")
        (own,) = (home.spool / "segments").iterdir()
        assert re.fullmatch(r"node-1-\d{8}T\d{6}Z-p\d+x[0-9a-f]{8}\.ndjson", own.name)
        assert [finding_uid_of(e) for e in home.spooled()] == [finding_uid(SAMPLE_ALERT)]
        assert f"to {own}" in home.log_text()
    finally:
        holder.kill()
        holder.wait()


def test_no_interpreter_is_error_14_not_127(home):
    result = home.run(argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))), python="/nonexistent/python3")
    assert result.returncode == hook.ERR_INSTALL == 14  # 127 makes integratord disable the integration
    assert "no Python interpreter at /nonexistent/python3" in result.stderr


def test_every_exit_14_is_the_hooks_err_install():
    from wazuh_ocsf.hook import entry as hook_entry

    assert hook_entry.ERR_INSTALL == hook.ERR_INSTALL
    assert f"(exit {hook.ERR_INSTALL})" in INTEGRATION.read_text() and "sys.exit(14)" in INTEGRATION.read_text()


def test_a_missing_package_is_error_14(tmp_path, home):
    integrations = tmp_path / "elsewhere" / "integrations"
    integrations.mkdir(parents=True)
    (integrations / INTEGRATION.name).write_bytes(INTEGRATION.read_bytes())
    (integrations / INTEGRATION.name).chmod(0o755)
    result = subprocess.run(
        [str(integrations / INTEGRATION.name), *map(str, argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))))],
        env=home.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == hook.ERR_INSTALL
    assert "cannot import wazuh_ocsf from" in result.stderr and "reinstall wazuh-ocsf" in result.stderr


def test_the_installed_layout_uses_the_lib_directory_and_the_venv(tmp_path):
    """<home>/wazuh-ocsf/lib holds the package, <home>/wazuh-ocsf/venv/bin/python3 the interpreter."""
    root = tmp_path / "var-ossec"
    (root / "integrations").mkdir(parents=True)
    (root / "integrations" / INTEGRATION.name).write_bytes(INTEGRATION.read_bytes())
    (root / "integrations" / INTEGRATION.name).chmod(0o750)
    lib = root / "wazuh-ocsf" / "lib"
    lib.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(Path(hook.__file__).parent.parent), str(lib)], check=True)
    (root / "wazuh-ocsf" / "venv" / "bin").mkdir(parents=True)
    (root / "wazuh-ocsf" / "venv" / "bin" / "python3").symlink_to(os.path.realpath(sys.executable))
    home = Home(root)
    env = home.env()
    del env["WAZUH_OCSF_PYTHON"], env["WAZUH_OCSF_WAZUH_HOME"]  # found from the integration's location
    result = subprocess.run(
        [str(root / "integrations" / INTEGRATION.name), *map(str, argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))))],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert [finding_uid_of(e) for e in home.spooled()] == [finding_uid(SAMPLE_ALERT)]


def test_main_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("WAZUH_OCSF_WAZUH_HOME", str(tmp_path))
    monkeypatch.setenv("WAZUH_OCSF_CONFIG", str(tmp_path / "absent.conf"))
    assert hook.main([]) == hook.ERR_BAD_ARGUMENTS
    assert hook.main([str(tmp_path / "integrations" / "x.py"), str(tmp_path / "nothing.alert")]) == 6


def test_exit_codes_are_documented_and_distinct():
    codes = {name: value for name, value in vars(hook).items() if name.startswith("ERR_") or name == "OK"}
    assert sorted(codes.values()) == sorted(set(codes.values()))
    assert sorted(hook.EXIT_CODES) == sorted(codes.values())
    assert (hook.ERR_BAD_ARGUMENTS, hook.ERR_FILE_NOT_FOUND, hook.ERR_INVALID_JSON) == (2, 6, 7)  # Wazuh's own
    assert 127 not in codes.values() and 126 not in codes.values()


def test_a_failing_fsync_is_error_12_and_keeps_the_alert(home, monkeypatch):
    home.write_config(spool_dir=home.spool, node_name="node-1", fsync="append")
    monkeypatch.setenv("WAZUH_OCSF_WAZUH_HOME", str(home.root))
    for name in [n for n in os.environ if n.startswith("WAZUH_OCSF_") and n != "WAZUH_OCSF_WAZUH_HOME"]:
        monkeypatch.delenv(name)

    def fail(fd):
        raise OSError(5, "Input/output error")

    script = str(home.root / "integrations" / "x.py")
    first = home.alert_file(alert_bytes(SAMPLE_ALERT))
    assert hook.main([script, *map(str, argv_48(first))]) == hook.OK
    monkeypatch.setattr(os, "fdatasync", fail)  # the append to the now active segment fails
    second = alert_bytes(dict(SAMPLE_ALERT, id="1713795642.2000"))
    assert hook.main([script, *map(str, argv_48(home.alert_file(second)))]) == hook.ERR_SPOOL_UNAVAILABLE
    assert "Input/output error" in home.log_text()
    (record,) = dead_letter.iter_records(str(home.spool))
    assert record["data"] == second


def test_a_config_error_keeps_the_alert_in_an_env_spool_dir_with_home(home, monkeypatch):
    home.write_config(fsync="sometimes")  # invalid, and no spool_dir in the file
    for name in [n for n in os.environ if n.startswith("WAZUH_OCSF_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WAZUH_OCSF_WAZUH_HOME", str(home.root))
    monkeypatch.setenv("WAZUH_OCSF_SPOOL_DIR", "{home}/spool")
    monkeypatch.setenv("WAZUH_OCSF_NODE_NAME", "node-1")
    data = alert_bytes(SAMPLE_ALERT)
    script = str(home.root / "integrations" / "x.py")
    assert hook.main([script, *map(str, argv_48(home.alert_file(data)))]) == hook.ERR_CONFIG
    assert [r["data"] for r in home.dead_letters()] == [data]
