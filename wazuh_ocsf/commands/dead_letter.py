"""``wazuh-ocsf dead-letter list|replay|discard``: what was rejected and why; replay it after a fix,
or discard what can never be fixed."""

from __future__ import annotations

import argparse
import json
import sys
import time

HELP = "list rejected alerts and spool lines with the reason, replay them after a fix, or discard them"

EXIT_SOME_LEFT = 1
REPLAY_MODULES = (
    "wazuh_ocsf.operations.replay", "wazuh_ocsf.mapping", "wazuh_ocsf.flush.convert", "wazuh_ocsf.logfile",
)


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
    drop = sub.add_parser("discard", help="delete records that can never be fixed (by id, by age or all); needs --yes")
    which = drop.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id", dest="ids", action="append", metavar="ID", help="a record's id from `dead-letter list` (repeatable)"
    )
    which.add_argument("--older-than", metavar="AGE", help="records kept longer ago than AGE, e.g. 7d, 12h, 3600")
    which.add_argument("--all", action="store_true", help="every record")
    drop.add_argument("--yes", action="store_true", help="really delete them (without it: only show what would go)")
    drop.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    """``list``: 0. ``replay``: 0 when every record was replayed, 1 when some stay."""
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely

    settings = load_settings_safely(args.config, preload=REPLAY_MODULES)
    if args.action == "list":
        become_spool_owner(settings.spool_dir)  # as root, never open what the wazuh user planted
        return _list(settings, args.json)
    if args.action == "discard":
        return _discard(settings, args)
    return _replay(settings, args)


def _list(settings, as_json: bool) -> int:
    from wazuh_ocsf.operations.replay import list_records

    records = list_records(settings.spool_dir)
    if as_json:
        print(json.dumps(records, indent=1))
        return 0
    if not records:
        print(f"no dead-letter records in {settings.spool_dir}/dead-letter")
        return 0
    for item in records:
        print(
            f"{item['id']}  {item['time'] or '?':24}  {item['kind']:10}  {item['size']:>7} B  {item['source']}\n"
            f"    {item['file']}:{item['line']}: {item['reason']}"
        )
    print(f"{len(records)} record{'s' * (len(records) != 1)}; after fixing the cause: wazuh-ocsf dead-letter replay")
    return 0


def _replay(settings, args) -> int:
    from wazuh_ocsf import logfile
    from wazuh_ocsf.config import parse_class
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.operations.replay import replay
    from wazuh_ocsf.privileges import become_spool_owner

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


def _discard(settings, args) -> int:
    """Show (without --yes) or delete the chosen records; 1 when nothing was deleted that should be."""
    from wazuh_ocsf import logfile
    from wazuh_ocsf.config import parse_duration
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.operations.replay import discard, record_age, record_id
    from wazuh_ocsf.privileges import become_spool_owner

    now = time.time()
    if args.older_than is not None:
        try:
            limit = parse_duration(args.older_than)
        except ValueError as exc:
            raise ConfigError("--older-than", str(exc)) from None

        def select(item) -> bool:
            age = record_age(item, now)
            return age is not None and age > limit
    elif args.ids:
        wanted = {i.strip().lower() for i in args.ids}

        def select(item) -> bool:
            return record_id(item) in wanted
    else:

        def select(item) -> bool:
            return True

    become_spool_owner(settings.spool_dir)
    logfile.configure(settings, "dead-letter")
    removed = discard(settings.spool_dir, select, dry_run=not args.yes)
    unknown = sorted({i.strip().lower() for i in args.ids or ()} - {item["id"] for item in removed})
    if args.json:
        outcome = {
            "discarded": len(removed) if args.yes else 0,
            "matched": len(removed),
            "records": removed,
            "unknown_ids": unknown,
            "dry_run": not args.yes,
        }
        print(json.dumps(outcome))
    else:
        verb = "discarded" if args.yes else "would discard"
        print(f"{verb} {len(removed)} dead-letter record{'s' * (len(removed) != 1)}")
        for item in removed:
            print(f"  {item['id']}  {item['time'] or '?':24}  {item['source']}: {item['reason']}")
        if not args.yes and removed:
            print("nothing was deleted: add --yes to discard them for good", file=sys.stderr)
    for missing in unknown:
        print(f"ERROR: no dead-letter record has the id {missing} (see `wazuh-ocsf dead-letter list`)", file=sys.stderr)
    return 0 if (args.yes or not removed) and not unknown else EXIT_SOME_LEFT
