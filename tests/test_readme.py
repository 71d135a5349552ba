"""README.md is the user's manual: it must name every setting and every command."""

from __future__ import annotations

import pytest

from wazuh_ocsf.commands import COMMANDS
from wazuh_ocsf.config import SETTINGS


@pytest.fixture(scope="module")
def readme(repo_root) -> str:
    return (repo_root / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.env)
def test_every_setting_is_documented_with_its_default(readme, setting):
    row = next((line for line in readme.splitlines() if line.startswith(f"| `{setting.env}` |")), None)
    assert row is not None, f"README's configuration table lacks {setting.env}"
    default = "—" if setting.default is None else f"`{setting.default}`"
    assert f"| {default} |" in row


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_documented(readme, command):
    assert f"wazuh-ocsf {command}" in readme


def test_the_test_command_is_marked_for_ci(readme):
    marker = readme.index("<!-- test-command -->")
    assert readme[marker:].split("```", 2)[1].strip().startswith("sh\n")
