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


def test_every_status_json_field_is_documented(readme, tmp_path):
    """Issue 12, item 12: `status --json` is documented as stable, with every field it prints."""
    from wazuh_ocsf.config import load_settings
    from wazuh_ocsf.operations.status import FORMAT, collect
    from wazuh_ocsf.spool.store import Spool

    settings = load_settings(environ={"WAZUH_OCSF_SPOOL_DIR": str(tmp_path), "WAZUH_OCSF_CONFIG": "/nonexistent"})
    Spool(settings, create=True)
    data = collect(settings)
    table = readme[readme.index("**`status --json` is a stable interface**") :]
    table = table[: table.index("\n\n", table.index("| field | meaning |"))]
    assert f"whose `format` is `{FORMAT}`" in table
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {cell.strip("` ") for line in rows for cell in line.split("|")[1].split(",")}
    assert documented == set(data)
    for name in data["spool"]:
        assert f"`{name}`" in table, name
