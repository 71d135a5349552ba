"""Fixtures for tests against the real Wazuh manager (``pytest -m real_manager``).

Stable API for test modules here (see ``manager_kit.py`` for the helpers they return):

``wazuh_kit`` (session) → ``Path``
    build.sh's OUT_DIR with the built daemons (``WAZUH_OCSF_KIT_OUT``, default
    ``<repo>/.cache/wazuh-kit``). Skips, naming the missing part, where the manager cannot run;
    with ``WAZUH_OCSF_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails instead.
``ruleset_lines`` (session) → ``Path``
    Every ``log … pass`` line of Wazuh's ``ruleset/testing/tests/*.ini`` as analysisd queue messages.
``ruleset_run`` (session) → ``RulesetRun``
    Those lines through the whole real chain once (analysisd → alerts.json → integratord → hook)
    in the shared home below, with ``wazuh-ocsf follow`` beside it (its own spool; stopped with
    SIGTERM and restarted while analysisd writes), then ``wazuh-ocsf flush`` to its local sink and
    to Security Lake's bucket on moto (``lake_delivery.deliver``): the alerts analysisd wrote, the
    events the hook and follow spooled, and what the flush delivered, captured once.
``ruleset_alerts`` (session) → ``list[dict]``
    The alerts of that run (to replay through :class:`manager_kit.Integratord`).
``manager`` (function) → ``Manager``
    A home with wazuh-ocsf installed (local sink ``manager.output_dir``) and another tool's
    integration (``custom-echo``, rule 5718), shared by the session and reset for each test (empty
    alerts.json, spool and output). A test that re-runs the installer calls ``manager.restore()``
    after. Tests named ``*uninstall*`` run last: they uninstall it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from s3_server import ACCOUNT_ID, REGION

from . import manager_kit
from .lake_delivery import Delivery, deliver
from .manager_kit import Manager


def unavailable(reason: str) -> None:
    """Skip, naming the missing part (``tests/conftest.py`` makes it a failure under ``WAZUH_OCSF_REQUIRE_ALL=1``)."""
    pytest.skip(f"real Wazuh manager unavailable: {reason}")


@pytest.fixture(scope="session")
def wazuh_kit() -> Path:
    reason = manager_kit.missing_part()
    if reason:
        unavailable(reason)
    return manager_kit.build()


@pytest.fixture(scope="session")
def ruleset_lines(wazuh_kit: Path, tmp_path_factory) -> Path:
    return manager_kit.ruleset_lines(wazuh_kit, tmp_path_factory.mktemp("ruleset") / "ruleset.queue")


#: After how many alerts in alerts.json the session's ``follow`` is restarted.
FOLLOW_RESTART_AT = 400


@dataclass
class RulesetRun:
    """The ruleset lines through the whole chain, once per session (all captured: the home moves on)."""

    #: Every alert analysisd wrote to alerts.json.
    alerts: list
    #: Every event the hook spooled (before any flush).
    spooled: list
    #: run-chain.sh's output.
    output: str
    #: What ``wazuh-ocsf flush`` (Security Finding) then delivered to the local sink and the bucket.
    delivered: Delivery
    #: The other tool's output (``custom-echo``: every alert of rule 5718, as JSON lines).
    echoed: list
    #: What ``wazuh-ocsf follow``, running beside the hook into its own spool, spooled; it was
    #: stopped with SIGTERM and started again after FOLLOW_RESTART_AT alerts ...
    followed: list
    #: ... while analysisd was still writing (True unless the machine was too slow to tell).
    follow_restarted_midway: bool


@pytest.fixture(scope="session")
def ruleset_run(_shared_manager: Manager, ruleset_lines: Path) -> RulesetRun:
    from wazuh_ocsf.spool.store import count_lines

    manager = _shared_manager
    manager.reset()
    follow_spool = manager.make_spool("ruleset-follow-spool")
    follower = manager.start_follow(follow_spool)
    with ThreadPoolExecutor(1) as pool:
        chain = pool.submit(manager_kit.run_chain, manager, ruleset_lines)
        # SIGTERM to follow while analysisd writes, then start it again
        manager_kit.wait_for(lambda: count_lines(str(manager.alerts_json)) >= FOLLOW_RESTART_AT or chain.done(),
                             timeout=600)
        follow_restarted_midway = not chain.done()
        manager_kit.stop(follower)
        follower = manager.start_follow(follow_spool)
        output = chain.result()
    alerts, spooled = manager.alerts(), manager.spooled_events()
    manager_kit.wait_for(lambda: len(manager.spooled_events(follow_spool)) >= len(alerts), timeout=300)
    manager_kit.stop(follower)
    followed = manager.spooled_events(follow_spool)
    echo_log = manager.home / "logs" / "custom-echo.log"
    echoed = echo_log.read_text().splitlines() if echo_log.exists() else []
    delivered = deliver(manager, ocsf_class="security_finding")
    return RulesetRun(alerts, spooled, output, delivered, echoed, followed, follow_restarted_midway)


@pytest.fixture(scope="session")
def ruleset_alerts(ruleset_run: RulesetRun) -> list:
    return ruleset_run.alerts


@pytest.fixture(scope="session")
def _shared_manager(wazuh_kit: Path):
    output = Path(manager_kit.new_home_dir("scenarios-lake"))
    output.chmod(0o750)
    shutil.chown(output, "wazuh", "wazuh")
    # A local-sink installation: the partition path needs source name, region and account id.
    manager = manager_kit.make_manager(
        wazuh_kit, "scenarios", "--output-dir", str(output), "--source-name", "wazuh",
        "--region", REGION, "--account-id", ACCOUNT_ID, other_tool=True,
    )  # fmt: skip
    manager.output_dir = output
    try:
        yield manager
    finally:
        manager.remove()
        shutil.rmtree(output, ignore_errors=True)


@pytest.fixture
def manager(_shared_manager: Manager) -> Manager:
    _shared_manager.reset()
    return _shared_manager


def pytest_collection_modifyitems(items: list) -> None:
    """Mark every test here ``real_manager``; tests named ``*uninstall*`` run last (they remove the
    installation the ``manager`` fixture shares)."""
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in mine:
        item.add_marker(pytest.mark.real_manager)
    last = [item for item in mine if "uninstall" in item.name]
    items[:] = [item for item in items if item not in last] + last
