"""``wazuh-ocsf doctor``: check the installation end to end; exit 1 if any check fails."""

from __future__ import annotations

import argparse
import json

HELP = "check configuration, manager setup, permissions, interpreters, schedule and AWS access"

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--probe``, ``--json`` and the paths of the manager's layout."""
    from wazuh_ocsf.operations.doctor import Layout

    default = Layout()
    parser.add_argument(
        "--probe",
        action="store_true",
        help="write a zero-row Parquet object of the real schema to each destination (left in place)",
    )
    parser.add_argument(
        "--lake",
        action="store_true",
        help="check the lake side instead, read-only: custom source, provider role trust, Glue crawler, table "
        "schema against ours, latest partition (as the lake administrator)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    parser.add_argument(
        "--wazuh-home", metavar="DIR", help="the manager's home (default: WAZUH_OCSF_WAZUH_HOME, else /var/ossec)"
    )
    parser.add_argument(
        "--systemd-dir", metavar="DIR", default=default.systemd_dir, help="where the flush timer is installed"
    )
    parser.add_argument("--cron-dir", metavar="DIR", default=default.cron_dir, help="where a cron file is installed")
    parser.add_argument("--user", default=default.user, help="the user wazuh-integratord runs as (default: wazuh)")
    parser.add_argument("--group", default=default.group, help="the manager's group (default: wazuh)")


def _wazuh_home(args: argparse.Namespace) -> str:
    """--wazuh-home, else WAZUH_OCSF_WAZUH_HOME from the environment, else from the named config file."""
    import contextlib
    import os

    from wazuh_ocsf.config import CONFIG_ENV, DEFAULT_WAZUH_HOME, SETTINGS_BY_ATTR, read_config_file
    from wazuh_ocsf.errors import ConfigError

    name = SETTINGS_BY_ATTR["wazuh_home"].env
    home = args.wazuh_home or os.environ.get(name)
    named_file = args.config or os.environ.get(CONFIG_ENV)
    if not home and named_file:
        with contextlib.suppress(ConfigError):  # the config check reports the file itself
            home = read_config_file(named_file).get(name)
    return os.path.abspath(home or DEFAULT_WAZUH_HOME)


def run(args: argparse.Namespace) -> int:
    """Run every check; print one line each (or JSON); 1 if any failed."""
    from wazuh_ocsf.operations.doctor import FAIL, Context, Layout, render, run_checks
    from wazuh_ocsf.redact import redact, secrets_of

    home = _wazuh_home(args)
    layout = Layout(home, args.systemd_dir, args.cron_dir, args.user, args.group)
    if args.lake:
        from wazuh_ocsf.lake.checks import run_lake_checks

        ctx = Context(layout, config_path=args.config)
        results = run_lake_checks(ctx)
    else:
        ctx = Context(layout, config_path=args.config, probe=args.probe)
        results = run_checks(ctx)
    secrets = secrets_of(ctx.settings) if ctx.settings is not None else ()
    if args.json:
        print(redact(json.dumps([r.to_dict() for r in results], indent=1), secrets))
    else:
        print(redact(render(results), secrets))
    return EXIT_FAILED if any(r.status == FAIL for r in results) else 0
