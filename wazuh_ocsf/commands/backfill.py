"""``wazuh-ocsf backfill``: spool the alerts of a time range from alerts.json and its archives."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

HELP = "map and spool every alert of a time range from logs/alerts (skipping what was already sent)"


# What backfill imports after it may have given up root (load_settings_safely): loaded as root first.
BACKFILL_MODULES = (
    "wazuh_ocsf.readers.backfill", "wazuh_ocsf.readers.gap_fill", "wazuh_ocsf.readers.pipeline", "wazuh_ocsf.logfile",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--since``, ``--until``, ``--alerts-dir``, ``--progress``, ``--json``."""
    parser.add_argument(
        "--since", metavar="TIME", help="first alert time, UTC unless an offset is given (2024-04-22, "
        "2024-04-22T14:00, 2024-04-22T14:00:00+0200)"
    )
    parser.add_argument(
        "--until", metavar="TIME", help="end of the range, exclusive (default: now, or the interrupted run's end)"
    )
    parser.add_argument(
        "--alerts-dir", metavar="DIR", help="the manager's alerts directory (default: <wazuh home>/logs/alerts)"
    )
    parser.add_argument(
        "--progress", action="store_true", help="show the progress bar even when stderr is not a terminal"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument(
        "--recent",
        action="store_true",
        help="instead of --since/--until: the scheduled gap fill (hook mode): spool what integratord skipped "
        "since the last run, up to where it has read (run by the flush schedule before each flush)",
    )


class ProgressBar:
    """A plain-text progress bar by bytes on stderr, redrawn at most 5 times a second."""

    WIDTH = 30

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.2 and done < total:
            return
        self.drawn = now
        fraction = done / total if total else 1.0
        filled = int(self.WIDTH * min(fraction, 1.0))
        elapsed = now - self.started
        rate = done / elapsed / 1024**2 if elapsed > 0 else 0.0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:5.1f}% "
            f"{done / 1024**2:,.1f}/{total / 1024**2:,.1f} MiB {rate:,.1f} MiB/s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Backfill; print a one-line summary; exit 1 when files had to be skipped."""
    from wazuh_ocsf import logfile
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely
    from wazuh_ocsf.readers.backfill import parse_time

    if args.recent:
        return _run_recent(args)
    if not args.since:
        raise ConfigError("--since", "required (or --recent for the scheduled gap fill)")
    try:
        since = parse_time(args.since)
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        raise ConfigError("--since/--until", str(exc)) from None
    if until is not None and until <= since:
        raise ConfigError("--until", f"must be later than --since ({args.since})")
    settings = load_settings_safely(args.config, preload=BACKFILL_MODULES)
    become_spool_owner(settings.spool_dir)
    # Warnings go to the log file; stderr carries the progress bar and the summary's own
    # WARNING lines below, so only errors are echoed there.
    logfile.configure(settings, "backfill", stderr_level=logging.ERROR)

    from wazuh_ocsf.readers.backfill import backfill, describe_days

    bar = ProgressBar() if args.progress or sys.stderr.isatty() else None
    try:
        result = backfill(settings, since=since, until=until, alerts_dir=args.alerts_dir, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
    else:
        print(result.summary())
        for problem in result.skipped_files:
            print(f"WARNING: skipped {problem}", file=sys.stderr)
        if result.missing_days:
            print(f"WARNING: no alerts archive for {describe_days(result.missing_days)}", file=sys.stderr)
    return 1 if result.skipped_files else 0


def _run_recent(args: argparse.Namespace) -> int:
    """``--recent``: one gap fill; print its summary; exit 0 also when there was nothing to do."""
    from wazuh_ocsf import logfile
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely
    from wazuh_ocsf.readers.gap_fill import gap_fill

    if args.since or args.until:
        raise ConfigError("--recent", "takes no --since/--until: it fills from the last run up to integratord")
    settings = load_settings_safely(args.config, preload=BACKFILL_MODULES)
    become_spool_owner(settings.spool_dir)
    logfile.configure(settings, "gap-fill", stderr_level=logging.ERROR)
    result = gap_fill(settings, alerts_dir=args.alerts_dir)
    print(json.dumps(result.to_dict(), sort_keys=True) if args.json else result.summary())
    return 0
