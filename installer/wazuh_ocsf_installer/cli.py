"""``installer/install.sh``'s command line: parse options, plan, print, apply.

This is the one place where installer errors become an ``ERROR:`` line and an exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from wazuh_ocsf_installer import follow_service
from wazuh_ocsf_installer.detect import DEFAULT_HOME, Target
from wazuh_ocsf_installer.errors import InstallError, UnsupportedTargetError, UsageError
from wazuh_ocsf_installer.plan import Plan, plan_install, plan_uninstall, restart_change, restart_hint
from wazuh_ocsf_installer.schedule import DEFAULT_INTERVAL

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3
#: Exit status by error kind (checked in order); any other InstallError is EXIT_FAILED.
EXIT_CODES = ((UsageError, EXIT_USAGE), (UnsupportedTargetError, EXIT_UNSUPPORTED))

_EPILOG = """\
Filters: --level, --rule-id, --group-filter and --event-location are kept from the existing block
(with --mode follow: from the WAZUH_OCSF_FOLLOW_* settings; no --event-location) when not given;
give an empty value ("") to remove one. Switching modes carries them over.
Settings (etc/wazuh-ocsf.conf): kept on re-runs; options given change only their own lines.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="install.sh",
        description="Install, upgrade or uninstall wazuh-ocsf on a Wazuh 4.x manager (run as root).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    where = parser.add_argument_group("where")
    where.add_argument("--home", default=DEFAULT_HOME, help="Wazuh home directory (default: %(default)s)")
    where.add_argument(
        "--root",
        default="",
        metavar="DIR",
        help="install into DIR as a filesystem root (tests, images): never runs systemctl",
    )
    where.add_argument(
        "--user", help="the Wazuh user: owns the spool, runs the flusher (default: wazuh; ossec on Wazuh 4.0-4.2)"
    )
    where.add_argument(
        "--group", help="the Wazuh group: group of every installed file (default: wazuh; ossec on Wazuh 4.0-4.2)"
    )
    where.add_argument(
        "--bin-dir",
        default="/usr/local/bin",
        metavar="DIR",
        help="where the wazuh-ocsf command is linked (default: %(default)s)",
    )

    package = parser.add_argument_group("package")
    package.add_argument(
        "--wheelhouse", metavar="DIR", help="install offline from the wheels in DIR (wazuh-ocsf and its dependencies)"
    )
    package.add_argument(
        "--no-deps",
        action="store_true",
        help="install wazuh-ocsf without its dependencies (they must be provided otherwise)",
    )
    package.add_argument(
        "--python",
        metavar="PATH",
        help="Python 3.10+ for the virtual environment (default: the manager's embedded Python if 3.10+,"
        " else the one running the installer)",
    )
    package.add_argument("--rebuild-venv", action="store_true", help="recreate the virtual environment from scratch")

    settings = parser.add_argument_group("settings (etc/wazuh-ocsf.conf)")
    settings.add_argument("--bucket", help="Security Lake S3 bucket")
    settings.add_argument("--region", help="AWS region of the lake")
    settings.add_argument("--account-id", help="AWS account id in the partition path")
    settings.add_argument(
        "--source-name", action="append", metavar="[CLASS=]NAME",
        help="Security Lake custom source name (at most 20 characters) of the finding class; CLASS=NAME for "
        "another class (with --ocsf-class auto: vulnerability_finding, compliance_finding, file_activity, "
        "authentication); repeatable",
    )
    settings.add_argument(
        "--source-location", help="exact provider location Security Lake returned (s3://…/ext/<source>/…)"
    )
    settings.add_argument(
        "--role-arn", action="append", metavar="[CLASS=]ARN",
        help="provider role to assume (of the finding class, and the default of every class); CLASS=ARN for another "
        "class's source (each Security Lake source has its own provider role); repeatable",
    )
    secret = settings.add_mutually_exclusive_group()
    secret.add_argument("--external-id", help="external id for AssumeRole (secret: prefer --external-id-file)")
    secret.add_argument(
        "--external-id-file", metavar="FILE", help="read the external id from FILE ('-': standard input)"
    )
    settings.add_argument(
        "--ocsf-class", help="security_finding (2001, default), detection_finding (2004), or auto (each alert in "
        "the class that fits it; README, Routing)"
    )
    settings.add_argument("--output-dir", help="local sink: also write the Parquet partition tree here")
    settings.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other setting, e.g. WAZUH_OCSF_SPOOL_MAX_BYTES=4G (repeatable)",
    )
    settings.add_argument(
        "--reset-config", action="store_true", help="rewrite the settings file from these options only"
    )

    block = parser.add_argument_group("which alerts (the ossec.conf <integration> block, or the follow service)")
    block.add_argument(
        "--mode",
        choices=follow_service.MODES,
        help="hook: integratord runs the integration per alert (the ossec.conf block);"
        " follow: the wazuh-ocsf-follow systemd service tails alerts.json instead (busy managers)."
        " Default: the installed mode, else hook",
    )
    block.add_argument("--level", help="only alerts of this rule level or higher")
    block.add_argument("--rule-id", dest="rule_id", help="only these rule ids, comma separated")
    block.add_argument("--group-filter", dest="filter_group", help="only alerts of these rule groups, comma separated")
    block.add_argument(
        "--event-location", dest="event_location", help="only events from this location (OS_Match pattern)"
    )

    run = parser.add_argument_group("schedule and run")
    run.add_argument(
        "--flush-interval",
        default=str(DEFAULT_INTERVAL),
        help="flush every N seconds, or 5m, 1h (default: %(default)s)",
    )
    run.add_argument(
        "--scheduler",
        choices=("auto", "systemd", "cron", "none"),
        default="auto",
        help="how the flush is scheduled (default: auto)",
    )
    run.add_argument(
        "--monitor-group",
        metavar="GROUP",
        help="let GROUP read the pipeline's status: every flush writes `status --json` to"
        " /var/lib/wazuh-ocsf/status.json (wazuh:GROUP 0640; no settings, spool or secret);"
        ' kept on re-runs, "" stops it',
    )
    run.add_argument("--restart", action="store_true", help="restart the manager when ossec.conf changed")
    run.add_argument("--dry-run", action="store_true", help="print every change without making any")

    remove = parser.add_argument_group("uninstall")
    remove.add_argument("--uninstall", action="store_true", help="remove everything the installer added")
    remove.add_argument("--keep-config", action="store_true", help="with --uninstall: keep etc/wazuh-ocsf.conf")
    remove.add_argument("--purge", action="store_true", help="with --uninstall: remove the spool too")
    remove.add_argument("--force", action="store_true", help="with --purge: delete unsent events instead of refusing")
    return parser


def _read_secret(args) -> None:
    if args.external_id_file:
        try:
            if args.external_id_file == "-":
                value = sys.stdin.readline()
            else:
                with open(args.external_id_file, encoding="utf-8") as handle:
                    value = handle.readline()
        except OSError as exc:
            raise UsageError(f"--external-id-file: {exc}") from None
        args.external_id = value.strip()


def _check_usage(args) -> None:
    install_only = (
        "mode",
        "wheelhouse",
        "bucket",
        "region",
        "account_id",
        "source_name",
        "source_location",
        "role_arn",
        "monitor_group",
    )
    if args.uninstall and any(getattr(args, name) for name in install_only):
        raise UsageError("--uninstall takes no install options")
    if not args.uninstall and (args.purge or args.keep_config):
        raise UsageError("--purge and --keep-config go with --uninstall")
    if args.force and not args.purge:
        raise UsageError("--force goes with --uninstall --purge")
    if os.geteuid() != 0 and not args.root and not args.dry_run:
        raise UsageError("run the installer as root (or with --dry-run to see what it would do)")


def show_plan(plan: Plan, *, dry_run: bool) -> None:
    """Print the plan section by section; unless ``dry_run``, apply each change right after printing it."""
    print(f"wazuh-ocsf installer: {plan.title}")
    if dry_run:
        print("Dry run: nothing is changed.")
    for title, changes in plan.sections:
        print(f"\n{title}")
        for change in changes:
            print("\n".join(change.lines(dry_run)), flush=True)
            if change.apply and not dry_run:
                change.apply()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the installer; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        _check_usage(args)
        _read_secret(args)
        plan = plan_uninstall(args) if args.uninstall else plan_install(args)
        if args.restart and plan.manager_config_changed:
            if args.root:
                plan.next_steps.append("not restarting the manager under --root")
            else:
                # Before the follower starts, if it does: until the restart, integratord still runs the hook.
                plan.add("Manager", [restart_change(Target(args.root, args.home))], before=plan.restart_before)
        show_plan(plan, dry_run=args.dry_run)
        for warning in plan.warnings:
            print(f"WARNING: {warning}", file=sys.stderr)
        if plan.manager_config_changed and not args.restart:
            plan.next_steps.append(
                "restart the manager so wazuh-integratord reads ossec.conf: "
                + restart_hint(Target(args.root, args.home))
            )
        for step in plan.next_steps + plan.after_restart:
            print(f"Next: {step}")
        print("\nDry run finished: nothing was changed." if args.dry_run else "\nDone.")
        return EXIT_OK
    except InstallError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), EXIT_FAILED)
    except OSError as exc:  # a change that failed while applying: say which, without a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"ERROR: {exc.strerror or exc}{where}: the installer stopped; re-run it once that is fixed", file=sys.stderr
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ERROR: interrupted", file=sys.stderr)
        return 130
