"""``wazuh-ocsf follow``: tail alerts.json into the spool (the systemd service of ``--mode follow``)."""

from __future__ import annotations

import argparse
import logging
import sys

HELP = "follow logs/alerts/alerts.json across rotations and spool every new alert (runs until SIGTERM)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--alerts-dir``, ``--workers``, ``--poll``, ``--heartbeat``."""
    parser.add_argument(
        "--alerts-dir", metavar="DIR", help="the manager's alerts directory (default: <wazuh home>/logs/alerts)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="mapping processes (default: WAZUH_OCSF_FOLLOW_WORKERS, auto)"
    )
    parser.add_argument(
        "--poll", type=float, default=0.2, metavar="SECONDS", help="how often to look for new alerts at the end"
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="log one 'alive' line and update the status's follow section this often (default: %(default)g)",
    )


def run(args: argparse.Namespace) -> int:
    """Follow until SIGTERM/SIGINT; log to logs/wazuh-ocsf.log and, from INFO up, to stderr (the journal)."""
    from wazuh_ocsf import logfile
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely

    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", "expected 1 or more")
    if args.poll <= 0:
        raise ConfigError("--poll", "expected a duration greater than zero")
    if args.heartbeat <= 0:
        raise ConfigError("--heartbeat", "expected a duration greater than zero")
    settings = load_settings_safely(args.config, preload=("wazuh_ocsf.readers.follow", "wazuh_ocsf.readers.pipeline"))
    become_spool_owner(settings.spool_dir)
    logfile.configure(settings, "follow", stderr_level=logging.INFO)  # INFO on stderr: the journal

    from wazuh_ocsf.readers.follow import follow

    stats = follow(
        settings,
        alerts_dir=args.alerts_dir,
        workers=args.workers,
        poll_interval=args.poll,
        heartbeat_interval=args.heartbeat,
    )
    print(stats.summary(), file=sys.stderr)
    return 0
