"""``wazuh-ocsf demo``, README's main command, run as a user runs it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ALERTS = sorted((Path(__file__).parent / "data" / "alerts").glob("*.json"))
KEY = re.compile(
    r"^ {6}(ext/wazuh/region=us-east-1/accountId=123456789012/eventDay=(\d{8})/(\S+\.parquet))  \(\d+ bytes\)$", re.M
)


def run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wazuh_ocsf.cli", "demo", *args], capture_output=True, text=True, timeout=300
    )


def test_demo_feeds_the_integration_flushes_to_the_local_lake_and_queries_it(tmp_path):
    kept = tmp_path / "demo"
    done = run_demo("--keep", str(kept))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout

    assert f"{len(ALERTS)} alerts through integrations/custom-wazuh-ocsf" in out
    assert f": {len(ALERTS)} spooled\n" in out
    assert re.search(rf"wazuh-ocsf flush \(exit 0\): flushed 1 segment: {len(ALERTS)} events in \d+ objects", out)

    # the printed keys are the objects that were uploaded (and downloaded for the query)
    keys = KEY.findall(out)
    assert keys
    downloaded = sorted(str(p.relative_to(kept / "downloaded")) for p in (kept / "downloaded").rglob("*.parquet"))
    assert downloaded == sorted(key for key, _, _ in keys)
    assert sum(pq.read_metadata(kept / "downloaded" / key).num_rows for key, _, _ in keys) == len(ALERTS)
    for _key, day, name in keys:
        assert f".2001.{day}." in name

    # real query results: the corpus has one critical alert and brute-force (T1110) alerts
    assert re.search(r"Events by severity:.*\n\s+Critical\s+1\n", out, re.S)
    assert re.search(r"Top MITRE ATT&CK techniques:.*\n\s+T1110\s+Brute Force\s+\d+\n", out, re.S)
    assert "Top rules:" in out

    # the integration ran from the tree, as a manager lays it out, and logged nothing bad
    assert (kept / "integrations" / "custom-wazuh-ocsf").is_file()
    assert (kept / "etc" / "wazuh-ocsf.conf").read_text().startswith("# wazuh-ocsf demo")

    # the server it started is gone
    port = int(re.search(r"at http://127\.0\.0\.1:(\d+):", out).group(1))
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert out.rstrip().endswith(f"S3 server stopped. Tree kept in {kept}")


def readme_sample() -> list:
    """The lines of README's sample demo output (``…`` marks lines left out)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index("```\n", text.index("Its output ends like this")) + 4
    return text[start : text.index("```", start)].splitlines()


#: What differs between runs (times, sizes, the segment's timestamp, the sample alerts' days), and
#: what it may be instead.
VARIES = re.compile(r"\d+\.\d KiB|in \d+\.\d s|\(\d+ bytes\)|\d{8}T\d{6}Z|(?<=eventDay=)\d{8}|(?<=\.2001\.)\d{8}")
VARIED = {"KiB": r"\d+\.\d KiB", "in ": r"in \d+\.\d s", "(": r"\(\d+ bytes\)", "T": r"\d{8}T\d{6}Z"}


def line_pattern(expected: str) -> str:
    parts, last = [], 0
    for match in VARIES.finditer(expected):
        parts.append(re.escape(expected[last : match.start()]))
        token = match.group()
        kind = next((k for k in ("KiB", "in ", "(") if k in token), "T" if "T" in token else None)
        parts.append(VARIED[kind] if kind else r"\d{8}")
        last = match.end()
    return "".join(parts) + re.escape(expected[last:])


def matches_readme(out: str) -> None:
    """README's sample, in order, is what the demo printed: ``…`` skips lines, others are consecutive."""
    lines = out.splitlines()
    position, skipping = 0, True  # the sample is the end of the output
    for expected in readme_sample():
        if expected.strip() == "…":
            skipping = True
            continue
        pattern = line_pattern(expected)
        stop = len(lines) if skipping else min(position + 1, len(lines))
        found = next((i for i in range(position, stop) if re.fullmatch(pattern, lines[i])), None)
        assert found is not None, f"README's demo line {expected!r} is not what the demo prints after line {position}"
        position, skipping = found + 1, False
    assert position == len(lines), f"the demo prints more after README's last line: {lines[position:]}"


def test_readmes_sample_output_is_what_the_demo_prints():
    """Issue 12, item 14."""
    done = run_demo()
    assert done.returncode == 0, done.stdout + done.stderr
    matches_readme(done.stdout)


def test_demo_refuses_a_non_empty_keep_directory(tmp_path):
    (tmp_path / "something").write_text("x")
    done = run_demo("--keep", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == f"ERROR: --keep {tmp_path}: the directory is not empty"


def test_demo_class_auto_writes_one_source_per_class_and_queries_the_vulnerabilities(tmp_path):
    kept = tmp_path / "demo"
    done = run_demo("--keep", str(kept), "--class", "auto")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f": {len(ALERTS)} spooled\n" in out
    keys = re.findall(r"^ {6}ext/([a-z-]+)/region=us-east-1/accountId=123456789012/eventDay=\d{8}/\S+?\.(\d{4})\.",
                      out, re.M)
    # one object per class and day, each under its class's own source
    assert set(keys) == {("wazuh", "2004"), ("wazuh-vulnerability", "2002"), ("wazuh-compliance", "2003"),
                         ("wazuh-file-activity", "1001"), ("wazuh-authentication", "3002")}
    assert re.search(r"Open vulnerabilities by CVSS base score:.*\n\s+CVE-2023-38545\s+2\.0\s+10\.0\s+ubuntu-20",
                     out, re.S)
    assert re.search(r"2002\s+Vulnerability Finding\s+3\s+wazuh-vulnerability\n", out)
