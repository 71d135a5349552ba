"""``wazuh-ocsf map`` run as a real process over real files and pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_corpus import corpus_files

from wazuh_ocsf.mapping import load_alert, map_alert

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS = [path for path in corpus_files() if path.stem.startswith("seed-")]


def one_line(path: Path) -> str:
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False)


@pytest.fixture
def run_map(tmp_path):
    """Run ``python -m wazuh_ocsf.cli [--config …] map ARGS`` with an empty Wazuh home and no config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAZUH_OCSF_")}
    env.update(WAZUH_OCSF_WAZUH_HOME=str(tmp_path), PYTHONIOENCODING="ascii", LC_ALL="C")

    def run(*args: str, stdin: str | bytes = b"", config: Path | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "wazuh_ocsf.cli"]
        if config is not None:
            command += ["--config", str(config)]
        data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        done = subprocess.run([*command, "map", *args], input=data, capture_output=True, env=env, cwd=tmp_path,
                              timeout=120)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8"),
                                           done.stderr.decode("utf-8"))

    return run


def events(stdout: str) -> list:
    assert stdout.endswith("\n") or stdout == ""
    return [json.loads(line) for line in stdout.splitlines()]


def test_ndjson_with_bad_lines_in_the_middle(run_map) -> None:
    lines = [one_line(SEEDS[0]), "{bad", "", one_line(SEEDS[1]), "[1, 2]", '{"rule": {}, "timestamp": "x"}',
             one_line(SEEDS[2])]
    done = run_map(stdin="\n".join(lines) + "\n")
    assert done.returncode == 1
    assert events(done.stdout) == [map_alert(load_alert(one_line(path))) for path in SEEDS]
    assert done.stderr.splitlines() == [
        "ERROR: <stdin>:2: alert is not valid JSON: Expecting property name enclosed in double quotes"
        " at line 1 column 2",
        "ERROR: <stdin>:5: alert is not a JSON object (got a JSON list)",
        "ERROR: <stdin>:6: timestamp 'x' is not an ISO 8601 date and time like 2024-04-22T14:20:46.976+0000",
        "ERROR: 3 of 6 alerts could not be mapped",
    ]


def test_pretty_printed_object_from_a_file(run_map) -> None:
    path = REPO_ROOT / "tests" / "data" / "alerts" / "sudo-unicode-full-log.json"
    done = run_map("--class", "detection-finding", str(path))
    assert (done.returncode, done.stderr) == (0, "")
    assert events(done.stdout) == [map_alert(json.loads(path.read_text(encoding="utf-8")), class_uid=2004)]
    assert "josé" in done.stdout  # UTF-8 out, whatever the locale says


def test_several_pretty_printed_objects_on_stdin(run_map) -> None:
    text = "".join(path.read_text(encoding="utf-8") for path in corpus_files())
    done = run_map("-", stdin=text)
    assert (done.returncode, done.stderr) == (0, "")
    expected = [map_alert(json.loads(path.read_text(encoding="utf-8"))) for path in corpus_files()]
    assert events(done.stdout) == expected


def test_broken_pretty_printed_input_reports_where(run_map) -> None:
    good = (REPO_ROOT / "tests" / "data" / "alerts" / "fim-added.json").read_text(encoding="utf-8")
    done = run_map(stdin=good + '{\n  "rule": {,\n}\n')
    first_bad_line = good.count("\n") + 1
    assert done.returncode == 1
    assert len(events(done.stdout)) == 1
    assert done.stderr.splitlines()[0] == (
        f"ERROR: <stdin>:{first_bad_line}: alert is not valid JSON: Expecting property name enclosed in double"
        f" quotes at line {first_bad_line + 1} column 12; input ends here"
    )


def test_settings_come_from_the_config_file(run_map, tmp_path) -> None:
    config = tmp_path / "wazuh-ocsf.conf"
    config.write_text(
        "WAZUH_OCSF_OCSF_CLASS=detection_finding\nWAZUH_OCSF_PRODUCT_VERSION=4.9.2\nWAZUH_OCSF_ATTACK_VERSION=v15.1\n"
    )
    source = json.loads((REPO_ROOT / "tests" / "data" / "alerts" / "sshd-auth-failed.json").read_text())
    done = run_map(stdin=json.dumps(source), config=config)
    assert (done.returncode, done.stderr) == (0, "")
    assert events(done.stdout) == [
        map_alert(source, class_uid=2004, product_version="4.9.2", attack_version="v15.1")
    ]
    done = run_map("--class", "security_finding", stdin=json.dumps(source), config=config)
    assert events(done.stdout)[0]["class_uid"] == 2001


def test_bad_class_missing_file_and_empty_input(run_map, tmp_path) -> None:
    done = run_map("--class", "vulnerability-finding")
    assert done.returncode == 3
    assert "--class: expected auto, security_finding (2001) or detection_finding (2004)" in done.stderr
    done = run_map(str(tmp_path / "missing.json"))
    assert done.returncode == 1
    assert done.stderr == f"ERROR: cannot read {tmp_path / 'missing.json'}: No such file or directory\n"
    done = run_map(stdin="\n\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_class_auto_routes_each_alert_to_the_class_that_fits_it(tmp_path) -> None:
    """`map --class auto` over the corpus emits the four routed classes and 2004 for the rest."""
    from test_corpus import load_corpus

    from wazuh_ocsf.mapping.routing import fitting_class

    corpus = load_corpus()
    source = tmp_path / "alerts.json"
    source.write_text("".join(json.dumps(alert) + "\n" for alert in corpus.values()), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "wazuh_ocsf.cli", "map", "--class", "auto", str(source)],
                          capture_output=True, text=True,
                          env={**os.environ, "WAZUH_OCSF_CONFIG": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    classes = [json.loads(line)["class_uid"] for line in done.stdout.splitlines()]
    assert classes == [fitting_class(alert) or 2004 for alert in corpus.values()]
    assert set(classes) == {2002, 2003, 1001, 3002, 2004}
