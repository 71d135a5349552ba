"""Fixtures shared by every test module, and the rule that no test skips silently in CI.

Some tests need parts a plain clone may lack: the reference data in ``../shared`` beside the
checkout, or the real Wazuh manager (``tests/real_manager``: root and the wazuh-daemons kit).
They skip with a reason naming the missing part. With ``WAZUH_OCSF_REQUIRE_ALL=1`` (set by
``.ci/run``) every such skip is reported as a failure instead, so CI cannot pass without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
REQUIRE_ENV = "WAZUH_OCSF_REQUIRE_ALL"
#: Text that skip reasons for a missing part contain (the ../shared path, the real manager's fixture).
MISSING_PART_REASONS = (str(SHARED_DIR), "beside the checkout", "real Wazuh manager unavailable")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under ``WAZUH_OCSF_REQUIRE_ALL=1``, a skip for a missing part is a failure naming it."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(REQUIRE_ENV) == "1" and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if any(marker in reason for marker in MISSING_PART_REASONS):
            report.outcome = "failed"
            report.longrepr = f"{REQUIRE_ENV}=1: this test must run here, but it skipped: {reason}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (Wazuh and OCSF reference data); skip where absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference data {SHARED_DIR} is not beside the checkout")
    return SHARED_DIR


@pytest.fixture(scope="module")
def lake():
    """moto's S3/STS/IAM server on 127.0.0.1 with IAM authentication on (see ``tests/s3_server.py``).

    One server per test module; tests reset what they create (buckets, users, roles).
    """
    from s3_server import LakeServer

    server = LakeServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def security_lake_stub(monkeypatch):
    """A botocore ``Stubber`` on a real ``securitylake`` client, which ``security_lake.make_client`` returns.

    moto lacks Security Lake: the stubber checks every request and reply against the service
    model, and every queued reply must have been asked for by the end of the test.
    """
    import boto3
    from botocore.stub import Stubber

    from wazuh_ocsf.lake import custom_source as security_lake

    client = boto3.client(
        "securitylake", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    monkeypatch.setattr(security_lake, "make_client", lambda region, endpoint_url=None: client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()
