from __future__ import annotations

import pkgutil

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
