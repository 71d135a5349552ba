"""``wazuh-ocsf status``: is the pipeline flowing? Exit 0 when healthy, 1 when not (for monitoring)."""

from __future__ import annotations

import argparse
import json

HELP = "show the spool backlog, the last flush, dead letters and destinations; exit 1 when unhealthy"

EXIT_UNHEALTHY = 1


# What status imports after it may have given up root (load_settings_safely): loaded as root first.
STATUS_MODULES = (
    "wazuh_ocsf.operations.status", "wazuh_ocsf.spool.dead_letter", "wazuh_ocsf.readers.follow", "wazuh_ocsf.redact",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--max-age SECONDS``."""
    from wazuh_ocsf.operations.status import DEFAULT_MAX_AGE

    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object")
    parser.add_argument(
        "--max-age",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_MAX_AGE,
        help=f"unhealthy when the oldest spooled event is older than this (default: {DEFAULT_MAX_AGE:g})",
    )


def run(args: argparse.Namespace) -> int:
    """Print the status; 0 when healthy, 1 when not."""
    from wazuh_ocsf.operations.status import collect, render
    from wazuh_ocsf.privileges import load_settings_safely

    # Started as root with a config file the wazuh user can change: read it (and the spool) as that user.
    data = collect(load_settings_safely(args.config, preload=STATUS_MODULES), max_age=args.max_age)
    print(json.dumps(data, sort_keys=True) if args.json else render(data))
    return 0 if data["healthy"] else EXIT_UNHEALTHY
