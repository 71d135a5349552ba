"""No test skips silently in CI: under ``WAZUH_OCSF_REQUIRE_ALL=1`` (set by ``.ci/run``) a test
that skips for a missing part (``../shared`` beside the checkout, the real Wazuh manager) fails,
naming the part; other skips stay skips. Checked on a throw-away test tree with this suite's
``conftest.py`` and no ``../shared`` beside it, in a pytest child process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TESTS = Path(__file__).resolve().parent

PROBES = '''
import pytest
from conftest import SHARED_DIR

def test_needs_shared_file():
    pytest.skip(f"reference data {SHARED_DIR} is not beside the checkout")

@pytest.mark.skipif(True, reason=f"shared Wazuh reference data missing at {SHARED_DIR / 'wazuh'}")
def test_needs_shared_module():
    pass

def test_needs_the_real_manager():
    pytest.skip("real Wazuh manager unavailable: not root: the Wazuh daemons start as root")

def test_skips_for_another_reason():
    pytest.skip("root writes into read-only directories")
'''


def run_probes(tmp_path: Path, require: str | None) -> tuple:
    """Run the probes; ({test name: passed|skipped|failed}, pytest's output)."""
    tree = tmp_path / "checkout" / "tests"
    tree.mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", tree / "conftest.py")
    (tree / "test_probes.py").write_text(PROBES)
    env = {k: v for k, v in os.environ.items() if k != "WAZUH_OCSF_REQUIRE_ALL"}
    if require is not None:
        env["WAZUH_OCSF_REQUIRE_ALL"] = require
    report = tmp_path / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               f"--junitxml={report}", str(tree)]
    result = subprocess.run(command, cwd=tree.parent, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcomes[case.get("name")] = "failed" if kinds & {"failure", "error"} else kinds.pop() if kinds else "passed"
    return outcomes, result.stdout


def test_missing_parts_skip_outside_ci(tmp_path):
    outcomes, output = run_probes(tmp_path, None)
    assert list(outcomes.values()) == ["skipped"] * 4, output


def test_missing_parts_fail_under_require_all(tmp_path):
    outcomes, output = run_probes(tmp_path, "1")
    assert outcomes == {
        "test_needs_shared_file": "failed",
        "test_needs_shared_module": "failed",
        "test_needs_the_real_manager": "failed",
        "test_skips_for_another_reason": "skipped",
    }, output
    assert "WAZUH_OCSF_REQUIRE_ALL=1: this test must run here, but it skipped: real Wazuh manager unavailable" in output
