"""``wazuh-ocsf dead-letter list|replay``: what was rejected and why; replay it after a fix."""

from __future__ import annotations

import argparse
import json
import sys
import time

HELP = "list rejected alerts and spool lines with the reason, or replay them into the spool after a fix"

EXIT_SOME_LEFT = 1
REPLAY_MODULES = ("wazuh_ocsf.replay", "wazuh_ocsf.mapping", "wazuh_ocsf.convert", "wazuh_ocsf.logfile")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands ``list [--json]`` and ``replay [--class CLASS] [--dry-run] [--json]``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="show every dead-letter record: time, kind, size, source, reason")
    listing.add_argument("--json", action="store_true", help="print the records as a JSON list")
    again = sub.add_parser(
        "replay", help="map kept alerts again (and re-check kept spool lines) and spool what now works"
    )
    again.add_argument(
        "--class", dest="ocsf_class", metavar="CLASS",
        help="map kept alerts to security_finding or detection_finding (default: WAZUH_OCSF_OCSF_CLASS)",
    )
    again.add_argument("--dry-run", action="store_true", help="try every record, change nothing")
    again.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    """``list``: 0. ``replay``: 0 when every record was replayed, 1 when some stay."""
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely

    settings = load_settings_safely(args.config, preload=REPLAY_MODULES)
    if args.action == "list":
        become_spool_owner(settings.spool_dir)  # as root, never open what the wazuh user planted
        return _list(settings, args.json)
    return _replay(settings, args)


def _list(settings, as_json: bool) -> int:
    from wazuh_ocsf.replay import list_records

    records = list_records(settings.spool_dir)
    if as_json:
        print(json.dumps(records, indent=1))
        return 0
    if not records:
        print(f"no dead-letter records in {settings.spool_dir}/dead-letter")
        return 0
    for item in records:
        print(
            f"{item['time'] or '?':24}  {item['kind']:10}  {item['size']:>7} B  {item['source']}\n"
            f"    {item['file']}:{item['line']}: {item['reason']}"
        )
    print(f"{len(records)} record{'s' * (len(records) != 1)}; after fixing the cause: wazuh-ocsf dead-letter replay")
    return 0


def _replay(settings, args) -> int:
    from wazuh_ocsf import logfile
    from wazuh_ocsf.config import parse_class
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.privileges import become_spool_owner
    from wazuh_ocsf.replay import replay

    try:
        class_uid = parse_class(args.ocsf_class) if args.ocsf_class else None
    except ValueError as exc:
        raise ConfigError("--class", str(exc)) from None
    become_spool_owner(settings.spool_dir)
    logfile.configure(settings, "dead-letter")
    started = time.monotonic()
    result = replay(settings, class_uid=class_uid, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        verb = "would replay" if args.dry_run else "replayed"
        print(
            f"{verb} {result.replayed} record{'s' * (result.replayed != 1)} into the spool; "
            f"{len(result.still_failing)} still failing"
            f"{f', {result.untried} untried' if result.untried else ''} ({time.monotonic() - started:.1f} s)"
        )
        for where, reason in result.still_failing:
            print(f"  {where}: {reason}")
        if result.stopped:
            print(f"ERROR: stopped: {result.stopped}", file=sys.stderr)
    return 0 if result.ok else EXIT_SOME_LEFT
