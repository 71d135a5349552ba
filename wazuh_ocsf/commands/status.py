"""``wazuh-ocsf status``: is the pipeline flowing? Exit 0 when healthy, 1 when not (for monitoring)."""

from __future__ import annotations

import argparse
import json

HELP = "show the spool backlog, the last flush, dead letters and destinations; exit 1 when unhealthy"

EXIT_UNHEALTHY = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--max-age SECONDS``."""
    from wazuh_ocsf.status import DEFAULT_MAX_AGE

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
    from wazuh_ocsf.config import load_settings
    from wazuh_ocsf.status import collect, render

    data = collect(load_settings(path=args.config), max_age=args.max_age)
    print(json.dumps(data, sort_keys=True) if args.json else render(data))
    return 0 if data["healthy"] else EXIT_UNHEALTHY
