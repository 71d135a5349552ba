"""Fixtures for tests against the real Wazuh manager (``pytest -m real_manager``).

Stable API for test modules here (see ``manager_kit.py`` for the helpers they return):

``wazuh_kit`` (session) → ``Path``
    build.sh's OUT_DIR with the built daemons (``WAZUH_OCSF_KIT_OUT``, default
    ``<repo>/.cache/wazuh-kit``). Skips, naming the missing part, where the manager cannot run;
    with ``WAZUH_OCSF_REQUIRE_REAL_MANAGER=1`` (set by ``.ci/run``) it fails instead.
``ruleset_lines`` (session) → ``Path``
    Every ``log … pass`` line of Wazuh's ``ruleset/testing/tests/*.ini`` as analysisd queue messages.
``ruleset_run`` (session) → ``RulesetRun``
    Those lines through the whole real chain once (analysisd → alerts.json → integratord → hook)
    in a home installed by ``installer/install.sh``: the alerts analysisd wrote and the events the
    hook spooled, captured before anything else runs. Scenarios share it.
``ruleset_alerts`` (session) → ``list[dict]``
    The alerts of that run (to replay through :class:`manager_kit.Integratord`).
``manager`` (function) → ``Manager``
    A home with wazuh-ocsf installed (local sink ``output_dir``), shared by the session and
    reset for each test (empty alerts.json, spool and output); the test may re-run the installer.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import manager_kit
from .manager_kit import Manager


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail under ``WAZUH_OCSF_REQUIRE_REAL_MANAGER=1`` (CI)."""
    if os.environ.get(manager_kit.REQUIRE_ENV) == "1":
        pytest.fail(f"real Wazuh manager required ({manager_kit.REQUIRE_ENV}=1) but unavailable: {reason}")
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


@dataclass
class RulesetRun:
    """The ruleset lines through the whole chain, once per session."""

    manager: Manager
    #: Every alert analysisd wrote to alerts.json.
    alerts: list
    #: Every event the hook spooled (before any flush).
    spooled: list
    #: run-chain.sh's output.
    output: str


@pytest.fixture(scope="session")
def ruleset_run(wazuh_kit: Path, ruleset_lines: Path):
    manager = manager_kit.make_manager(wazuh_kit, "ruleset")
    try:
        output = manager_kit.run_chain(manager, ruleset_lines)
        yield RulesetRun(manager, manager.alerts(), manager.spooled_events(), output)
    finally:
        manager.remove()


@pytest.fixture(scope="session")
def ruleset_alerts(ruleset_run: RulesetRun) -> list:
    return ruleset_run.alerts


@pytest.fixture(scope="session")
def _shared_manager(wazuh_kit: Path):
    output = Path(manager_kit.new_home_dir("scenarios-lake"))
    output.chmod(0o750)
    shutil.chown(output, "wazuh", "wazuh")
    manager = manager_kit.make_manager(wazuh_kit, "scenarios", "--output-dir", str(output))
    manager.output_dir = output
    try:
        yield manager
    finally:
        manager.remove()
        shutil.rmtree(output, ignore_errors=True)


@pytest.fixture
def manager(_shared_manager: Manager) -> Manager:
    _shared_manager.reset()
    for child in _shared_manager.output_dir.iterdir():
        shutil.rmtree(child)
    return _shared_manager


def pytest_collection_modifyitems(items: list) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real_manager)
