"""Plan an install or an uninstall: every change, computed against the target as it is.

Nothing here changes anything; :mod:`.cli` prints the plan and, unless ``--dry-run``, applies it
section by section. Every check that can fail (options, manager, ossec.conf, settings, spool)
runs while planning, so a refused run leaves the manager untouched.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import time

import wazuh_ocsf
import wazuh_ocsf.config
from wazuh_ocsf.operations.doctor import HOOK_PROBE
from wazuh_ocsf.spool.store import SEGMENTS
from wazuh_ocsf_installer import (
    INTEGRATION_NAME,
    config_file,
    follow_service,
    integration,
    ossec_conf,
    safe_fs,
    schedule,
    venv,
)
from wazuh_ocsf_installer.detect import (
    EMBEDDED_PYTHON,
    Target,
    default_account,
    detect_manager,
    has_systemd,
    python_version,
)
from wazuh_ocsf_installer.errors import InstallError, OssecConfError, UsageError
from wazuh_ocsf_installer.files import (
    Change,
    Owner,
    encode,
    mode_text,
    owner_names,
    plan_dir,
    plan_file,
    plan_remove,
    plan_symlink,
    read_text,
    resolve_owner,
    write_atomic,
)
from wazuh_ocsf_installer.record import FILE_NAME as RECORD_NAME
from wazuh_ocsf_installer.record import InstallRecord

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_DIR = "wazuh-ocsf"
#: ``--monitor-group``: ``status --json`` as of the last flush, outside the Wazuh home (which is 0750).
STATUS_VIEW = "/var/lib/wazuh-ocsf/status.json"
#: Seconds the hook's interpreter may take to import the hook at install time (a cold disk, a busy manager).
HOOK_CHECK_TIMEOUT = 60
#: ossec.conf tag → the option that sets it and its argparse dest.
FILTER_OPTIONS = {
    "level": ("--level", "level"),
    "rule_id": ("--rule-id", "rule_id"),
    "group": ("--group-filter", "filter_group"),
    "event_location": ("--event-location", "event_location"),
}


class Plan:
    """Sections of changes (title → list), warnings, and what to tell the administrator at the end."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[tuple[str, list[Change]]] = []
        self.warnings: list[str] = []
        self.next_steps: list[str] = []
        #: Printed after the manager restart (done or advised): what must wait for it.
        self.after_restart: list[str] = []
        #: The section a ``--restart`` of the manager must come before (None: at the end).
        self.restart_before: str | None = None
        self.manager_config_changed = False

    def add(self, title: str, changes: list, *, before: str | None = None) -> None:
        """Add a section, at the end or before the section titled ``before`` (if there is one)."""
        changes = [c for c in changes if c is not None]
        if not changes:
            return
        index = next((i for i, (t, _) in enumerate(self.sections) if t == before), len(self.sections))
        self.sections.insert(index, (title, changes))


class Layout:
    """The logical and physical paths of everything the installer manages."""

    def __init__(self, target: Target, bin_dir: str) -> None:
        self.target = target
        self.base = target.home_path(PACKAGE_DIR)
        self.venv = os.path.join(self.base, "venv")
        self.lib = os.path.join(self.base, "lib", "wazuh_ocsf")
        self.config = target.home_path("etc", "wazuh-ocsf.conf")
        self.ossec_conf = target.home_path("etc", "ossec.conf")
        self.integration = target.home_path("integrations", INTEGRATION_NAME)
        #: Every file of the integration any version installed (the sh wrapper's .py before this one).
        self.integrations = [self.integration, self.integration + integration.LEGACY_SUFFIX]
        self.link = os.path.join(bin_dir, "wazuh-ocsf")
        self.console_script = os.path.join(self.venv, "bin", "wazuh-ocsf")
        self.units = [os.path.join(schedule.UNIT_DIR, n) for n in (schedule.SERVICE, schedule.TIMER)]
        self.timer = self.units[1]
        #: The link ``systemctl enable`` makes for the timer (under ``--root`` the installer makes it).
        self.timer_wants = os.path.join(schedule.UNIT_DIR, "timers.target.wants", schedule.TIMER)
        self.follow_unit = follow_service.UNIT
        self.record = os.path.join(self.base, RECORD_NAME)
        self.default_spool = os.path.join(self.base, "spool")

    def phys(self, logical: str) -> str:
        return self.target.path(logical)


def _diff(old: str, new: str, path: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (now)", f"{path} (after)", n=2
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines).replace("\r", "")
    # Bytes that are not UTF-8 (kept as surrogates) are shown escaped, as \xe9: printing cannot fail.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _backup_path(path: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, number = f"{path}.wazuh-ocsf-{stamp}.bak", 1
    while os.path.lexists(candidate):
        number += 1
        candidate = f"{path}.wazuh-ocsf-{stamp}-{number}.bak"
    return candidate


def plan_ossec_conf(layout: Layout, plan: Plan, values: dict | None) -> Change | None:
    """Change ossec.conf so our block holds ``values`` (None: remove it); backup, check, atomic replace."""
    path = layout.phys(layout.ossec_conf)
    found = safe_fs.read_regular(path)
    if found is None:
        if values is None:
            return None
        raise OssecConfError(f"{path} is missing")
    old_bytes, info = found
    old = old_bytes.decode("utf-8", "surrogateescape")  # bytes kept as they are: never re-encoded
    new = ossec_conf.remove(old) if values is None else ossec_conf.upsert(old, values)
    plan.warnings.extend(ossec_conf.check_edit(old, new, values))
    if new == old:
        return Change(
            "keep", layout.ossec_conf, "the wazuh-ocsf block is as asked" if values else "no wazuh-ocsf block"
        )
    safe_fs.check_replaceable(path)
    backup = _backup_path(path)

    def apply() -> None:
        now = safe_fs.read_regular(path)
        if now is None or now[0] != old_bytes:
            raise OssecConfError(f"{path} changed while the installer ran: nothing written; re-run the installer")
        write_atomic(backup, encode(old), info.st_uid, info.st_gid, info.st_mode & 0o7777)
        write_atomic(path, encode(new), info.st_uid, info.st_gid, info.st_mode & 0o7777)

    plan.manager_config_changed = True
    shown_backup = layout.target.home_path("etc", os.path.basename(backup))
    kept = f"{owner_names(info.st_uid, info.st_gid)} {mode_text(info.st_mode & 0o7777)}"
    detail = f"backup {shown_backup}; owner, group and mode {kept} kept"
    return Change("update", layout.ossec_conf, detail, apply, _diff(old, new, layout.ossec_conf))


def read_settings_file(layout: Layout) -> str | None:
    """``etc/wazuh-ocsf.conf`` as text, None if missing; refused unless only root can have written it.

    ``etc/`` is writable by the ``wazuh`` account, which can replace the file with its own (say,
    one naming ``/etc/sudoers.d`` as the spool): root reads it only when it is a regular file (not
    a symlink) owned by root with one link and no group or world write permission.
    """
    path = layout.phys(layout.config)
    found = safe_fs.read_regular(path)
    if found is None:
        return None
    data, info = found
    if not safe_fs.is_trusted(info) or info.st_nlink != 1:
        raise InstallError(
            f"{path} is {owner_names(info.st_uid, info.st_gid)} {mode_text(info.st_mode & 0o7777)} with"
            f" {info.st_nlink} link(s): not the root-owned file the installer wrote, and the wazuh account can"
            f" replace files in {os.path.dirname(path)}, so the installer does not trust it. Check its content,"
            f" then `chown root {path} && chmod 0640 {path}` and re-run (or pass --reset-config and the"
            " settings to rewrite it)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InstallError(f"{path} is not UTF-8 text ({exc}): fix it or pass --reset-config") from None


def plan_data_dir(
    layout: Layout, record: InstallRecord, logical: str, owner: Owner, *, what: str, mode: int = 0o750
) -> Change:
    """The spool or the local sink's directory (``owner``, ``mode``), created and recorded when missing.

    An existing directory the installer did not create (not in its record, not its default spool)
    keeps its owner and mode: when they do not let ``owner`` write, the install is refused.
    """
    if not os.path.isabs(logical):
        raise UsageError(f"{what} {logical!r}: give an absolute path (the flusher runs from another directory)")
    phys = layout.phys(logical)
    ours = record.created(logical) or os.path.normpath(logical) == layout.default_spool
    detail = f"{owner.label} {mode_text(mode)}"
    try:
        current = safe_fs.stat_dir(phys)
    except (safe_fs.UnsafePathError, NotADirectoryError) as exc:
        raise InstallError(f"{what} {phys}: {exc}") from None
    if current is not None:
        now = (current.st_uid, current.st_gid, current.st_mode & 0o7777)
        if now == (owner.uid, owner.gid, mode):
            return Change("keep", logical + "/", detail)
        problem = safe_fs.unusable_by(phys, owner.uid, owner.gid)
        if not ours:
            if problem is None:
                return Change("keep", logical + "/", f"{owner_names(*now[:2])} {mode_text(now[2])}, not ours")
            raise InstallError(
                f"{what} {phys} is {owner_names(*now[:2])} {mode_text(now[2])} and was not created by the installer,"
                f" which changes no owner or mode it did not create ({problem}). If it is meant for this, run"
                f" `chown {owner.label} {phys} && chmod {mode_text(mode)} {phys}` yourself; else choose another"
                " directory"
            )

    def apply() -> None:
        if safe_fs.ensure_dir(phys, owner.uid, owner.gid, mode, may_fix=ours):
            record.add_dir(logical)

    return Change("create" if current is None else "fix owner/mode", logical + "/", detail, apply)


def _read_ossec_conf(layout: Layout) -> str:
    """ossec.conf's text ("" if missing), every byte kept; never through a symlink (refused)."""
    found = safe_fs.read_regular(layout.phys(layout.ossec_conf))
    return found[0].decode("utf-8", "surrogateescape") if found else ""


def installed_mode(layout: Layout) -> str | None:
    """``follow`` when the installer's follow unit is there, ``hook`` when our ossec.conf block is, else None."""
    if schedule.is_ours(read_text(layout.phys(layout.follow_unit))):
        return "follow"
    text = _read_ossec_conf(layout)
    try:
        return "hook" if ossec_conf.find_ours(text, ossec_conf.scan(text)) else None
    except OssecConfError:
        return "hook"  # planning the block edit reports what is wrong with the file


def _existing_filters(layout: Layout, plan: Plan, mode: str) -> tuple[dict, str]:
    """The filters (tag → value) in force: the ossec.conf block's in hook mode, the settings' in follow mode.

    Also says where they come from, for error messages.
    """
    if mode == "follow":
        values = config_file.values(read_settings_file(layout) or "")
        found = {tag: values[key] for tag, key in follow_service.FILTER_SETTINGS.items() if values.get(key)}
        return found, f"{layout.config} setting"
    text = _read_ossec_conf(layout)
    found = ossec_conf.block_values(text)
    existing = found[0] if found else {}
    for tag in set(existing) - set(ossec_conf.ALLOWED_TAGS):
        plan.warnings.append(f"ossec.conf: dropped <{tag}> from the wazuh-ocsf block: integratord refuses it")
        del existing[tag]
    return existing, "existing wazuh-ocsf block's"


def _block_values(args, layout: Layout, plan: Plan, installed: str) -> dict:
    """Our block's values: options given now, else the filters in force (re-runs and switches keep them)."""
    existing, origin = _existing_filters(layout, plan, installed)
    values = {"name": INTEGRATION_NAME}
    for tag in ossec_conf.ALLOWED_TAGS:
        if tag in existing and tag not in ("name", "alert_format"):
            values[tag] = existing[tag].strip()
    for tag, (option, dest) in FILTER_OPTIONS.items():
        given = getattr(args, dest)
        if given is None:
            continue
        if given == "":
            values.pop(tag, None)
            continue
        try:
            values[tag] = ossec_conf.check_value(tag, given)
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None
    for tag, value in values.items():
        try:
            ossec_conf.check_value(tag, value)
        except ValueError as exc:
            shown = follow_service.FILTER_SETTINGS.get(tag, tag) if installed == "follow" else f"<{tag}>"
            raise OssecConfError(f"the {origin} {shown} {value!r}: {exc}; fix it or pass a new value") from None
    values["alert_format"] = "json"
    return values


def _per_class(option: str, items, default_key: str, suffix: str) -> dict:
    """Setting key → value of a repeatable ``--option [CLASS=]VALUE``: ``VALUE`` sets ``default_key``,
    ``CLASS=VALUE`` the class's ``WAZUH_OCSF_<CLASS>_<suffix>``."""
    config = wazuh_ocsf.config
    updates = {}
    for item in items or ():
        klass, sep, value = item.partition("=")
        if not sep or item.startswith("arn:"):  # an ARN may hold "=" (IAM names allow it)
            updates[default_key] = item
            continue
        try:
            updates[f"WAZUH_OCSF_{config.class_name(config.parse_any_class(klass)).upper()}_{suffix}"] = value
        except ValueError as exc:
            raise UsageError(f"--{option} {item!r}: {exc}") from None
    return updates


def _config_updates(args) -> dict:
    """Setting key → value from the command line (only what was given)."""
    config = wazuh_ocsf.config
    updates = {}
    ocsf_class = None
    if args.ocsf_class:
        try:
            ocsf_class = config.parse_class_choice(args.ocsf_class)
        except ValueError as exc:
            raise UsageError(f"--ocsf-class: {exc}") from None
        if ocsf_class == config.AUTO:  # the finding class takes the source location below
            ocsf_class = config.parse_class(config.SETTINGS_BY_ATTR["finding_class"].default)
            updates["WAZUH_OCSF_OCSF_CLASS"] = config.AUTO
        else:
            updates["WAZUH_OCSF_OCSF_CLASS"] = config.class_name(ocsf_class)
    # NAME: the finding class's source; CLASS=NAME: that class's (auto routing)
    updates.update(_per_class("source-name", args.source_name, "WAZUH_OCSF_SOURCE_LOCATION", "SOURCE"))
    # ARN: the finding class's provider role (every class's default); CLASS=ARN: that class's source's
    updates.update(_per_class("role-arn", args.role_arn, "WAZUH_OCSF_ROLE_ARN", "ROLE_ARN"))
    for option, key in (
        ("bucket", "WAZUH_OCSF_BUCKET"),
        ("region", "WAZUH_OCSF_REGION"),
        ("account_id", "WAZUH_OCSF_ACCOUNT_ID"),
        ("external_id", "WAZUH_OCSF_EXTERNAL_ID"),
        ("output_dir", "WAZUH_OCSF_OUTPUT_DIR"),
    ):
        if getattr(args, option) is not None:
            updates[key] = getattr(args, option)
    if args.source_location is not None:
        name = wazuh_ocsf.config.class_name(ocsf_class or wazuh_ocsf.config.SECURITY_FINDING).upper()
        updates[f"WAZUH_OCSF_{name}_LOCATION"] = args.source_location
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set: expected KEY=VALUE, got {item!r}")
        updates[config_file.setting_key(key)] = value
    return updates


def _hook_python(layout: Layout, manager) -> str:
    """The interpreter of the integration's ``#!`` line (logical path): the manager's own Python when it
    has one the hook can run on (3.9+), else the venv's.

    Wazuh owns its embedded Python: it keeps its path across upgrades and its ``wazuh`` user can always
    run it, while a venv made from ``--python`` may link to an interpreter ``wazuh`` cannot reach, or one
    removed later (integratord would then lose every alert with exit 127). The hook needs only the
    standard library; the installer byte-compiles and bundles it for both interpreters.
    """
    if _embedded_python(manager):
        return layout.target.home_path(EMBEDDED_PYTHON)
    return os.path.join(layout.venv, "bin", "python3")


def _plan_hook_check(python: str, lib: str, user: Owner, home: str) -> Change:
    """Before the integration names ``python`` in its ``#!`` line: run it as the manager's user, ``-I -S``
    as the hook runs, importing the hook from ``lib``. An interpreter that user cannot execute would make
    integratord drop every alert with exit 127 and leave no dead letter, so the install stops there,
    with the integration already installed (if any) unchanged.
    """

    def check() -> None:
        try:
            done = subprocess.run(
                [python, "-I", "-S", "-c", HOOK_PROBE, lib],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=HOOK_CHECK_TIMEOUT,
                cwd=home if os.path.isdir(home) else None,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                check=False,
                user=user.uid,
                group=user.gid,
                extra_groups=[user.gid],
            )
        except (OSError, subprocess.SubprocessError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
        else:
            if done.returncode == 0:
                return
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"exit {done.returncode}"
        raise InstallError(
            f"the hook's interpreter {python} cannot run the hook as {user.label} ({reason}); the integration"
            " was not changed. Pass --python with an interpreter every user can execute (not under a 0700"
            " directory such as /root), or make it reachable"
        )

    return Change("check", python, f"runs the hook from {lib} as {user.label}, as wazuh-integratord will", check)


def _embedded_python(manager, oldest: tuple = (3, 9)) -> str | None:
    """The manager's own Python when it is there and at least ``oldest`` (3.9: the hook's), else None."""
    if manager.embedded_python and (python_version(manager.embedded_python) or (0,)) >= oldest:
        return manager.embedded_python
    return None


def _base_python(args, manager) -> str:
    """The venv's interpreter: ``--python``, else the manager's if 3.10+, else the installer's own."""
    return args.python or _embedded_python(manager, venv.VENV_PYTHON) or sys.executable


def _scheduler(args, target: Target) -> str:
    if args.scheduler != "auto":
        return args.scheduler
    if has_systemd(target):
        return "systemd"
    return "cron" if os.path.isdir(target.path("/etc/cron.d")) or not target.is_fake_root else "none"


def _remove_if_ours(layout: Layout, logical: str, plan: Plan) -> Change | None:
    text = read_text(layout.phys(logical))
    if text is None:
        return None
    if not schedule.is_ours(text):
        plan.warnings.append(f"{logical} was not written by the installer: left in place")
        return None
    return plan_remove(layout.phys(logical), logical)


def _plan_unit(layout: Layout, logical: str, text: str) -> Change:
    """Write the systemd unit ``logical`` (root:root 0644); refuse to replace one the installer did not write."""
    phys = layout.phys(logical)
    current = read_text(phys)
    if current is not None and not schedule.is_ours(current):
        raise InstallError(f"{phys} exists and was not written by the installer: move it away")
    return plan_file(phys, logical, text.encode(), Owner(0, 0, "root:root"), 0o644, body=text)


def _plan_unit_removal(layout: Layout, plan: Plan, units: list, enabled: str, wants: str, *, live: bool) -> list:
    """Stop, disable and remove the installer's systemd ``units``, of which ``enabled`` is the enabled one.

    ``live`` (and not under ``--root``): ``systemctl disable --now`` first and ``daemon-reload`` last. On a
    running system ``systemctl disable`` removes the ``wants`` link; under ``--root`` it is ours to remove.
    """
    target = layout.target
    live = live and not target.is_fake_root
    name = os.path.basename(enabled)
    changes = []
    if live:
        changes.append(Change("run", f"systemctl disable --now {name}", apply=_systemctl(["disable", "--now", name])))
    link = layout.phys(wants)
    if target.is_fake_root and os.path.islink(link) and os.readlink(link) == enabled:
        changes.append(plan_remove(link, wants))
    changes += [_remove_if_ours(layout, unit, plan) for unit in units]
    if live:
        changes.append(Change("run", "systemctl daemon-reload", apply=_systemctl(["daemon-reload"])))
    return changes


def _systemctl(*commands: list) -> callable:
    def apply() -> None:
        for command in commands:
            result = subprocess.run(["systemctl", *command], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise InstallError(f"systemctl {' '.join(command)} failed: {result.stderr.strip()}")

    return apply


def plan_schedule(args, layout: Layout, root_owner: Owner, plan: Plan, view: str | None = None) -> tuple[str, list]:
    """Install the chosen flush schedule and remove the other one; ``view``: also write the status view."""
    target = layout.target
    kind = _scheduler(args, target)
    interval = schedule.parse_interval(args.flush_interval)
    root_only = Owner(0, 0, "root:root")
    changes = []
    if kind == "systemd":
        service = schedule.render_service(
            home=target.home, venv=layout.venv, config=layout.config, user=args.user, group=args.group, view=view
        )
        for logical, text in zip(layout.units, (service, schedule.render_timer(interval))):
            changes.append(_plan_unit(layout, logical, text))
        changed = any(c.verb != "keep" for c in changes)
        if target.is_fake_root:  # enable as `systemctl --root` would: the timer starts at the target's next boot
            changes.append(plan_symlink(layout.phys(layout.timer_wants), layout.timer_wants, layout.timer))
            plan.next_steps.append(
                f"on a running target system: systemctl daemon-reload && systemctl start {schedule.TIMER}"
            )
        elif changed:
            changes.append(
                Change(
                    "run",
                    f"systemctl daemon-reload; systemctl enable {schedule.TIMER}; systemctl restart {schedule.TIMER}",
                    apply=_systemctl(["daemon-reload"], ["enable", schedule.TIMER], ["restart", schedule.TIMER]),
                )
            )
        changes.append(_remove_if_ours(layout, schedule.CRON_FILE, plan))
    else:
        for logical in layout.units:
            removal = _remove_if_ours(layout, logical, plan)
            if removal and not target.is_fake_root and logical == layout.timer:
                changes.append(
                    Change(
                        "run",
                        f"systemctl disable --now {schedule.TIMER}",
                        apply=_systemctl(["disable", "--now", schedule.TIMER]),
                    )
                )
            changes.append(removal)
        if kind == "cron":
            text = schedule.render_cron(
                interval=interval, venv=layout.venv, config=layout.config, user=args.user, view=view
            )
            changes.append(
                plan_file(
                    layout.phys(schedule.CRON_FILE), schedule.CRON_FILE, text.encode(), root_only, 0o644, body=text
                )
            )
        else:
            changes.append(_remove_if_ours(layout, schedule.CRON_FILE, plan))
            plan.warnings.append("no flush schedule installed (--scheduler none): run `wazuh-ocsf flush` yourself")
    return f"Flush schedule ({kind}, every {interval} s)" if kind != "none" else "Flush schedule (none)", changes


def plan_install(args) -> Plan:
    """Every change that installs or upgrades wazuh-ocsf as ``args`` ask."""
    target = Target(args.root, args.home)
    manager = detect_manager(target)
    args.user = args.user or default_account(manager.version)
    args.group = args.group or default_account(manager.version)
    layout = Layout(target, args.bin_dir)
    rootfs = target.root if target.is_fake_root else None
    root_owner = resolve_owner(args.user, args.group, rootfs, owner_user="root")
    user_owner = resolve_owner(args.user, args.group, rootfs)
    version = wazuh_ocsf.__version__
    plan = Plan(f"install wazuh-ocsf {version} on {manager.describe()} at {target.home}")
    if args.wheelhouse and not os.path.isdir(args.wheelhouse):
        raise UsageError(f"--wheelhouse: {args.wheelhouse} is not a directory")
    record = InstallRecord.load(layout.phys(layout.record))
    installed = installed_mode(layout)
    mode = args.mode or installed or "hook"
    if mode == "follow" and not has_systemd(target):
        where = f" (no {target.path(schedule.UNIT_DIR)})" if target.is_fake_root else ""
        raise UsageError(
            f"--mode follow installs a long-running systemd service, and this system does not run systemd{where}:"
            " there is no cron equivalent for a daemon; use --mode hook (the ossec.conf block)"
        )
    switched_at = time.time()
    values = _block_values(args, layout, plan, installed or "hook")
    filter_updates, drop = {}, frozenset()
    if mode == "follow":
        if args.event_location:
            raise UsageError(
                "--event-location: the follower has no location filter (it filters by --level, --group-filter"
                " and --rule-id); use it with --mode hook"
            )
        if "event_location" in values:
            plan.warnings.append(
                f"the wazuh-ocsf block's <event_location>{values['event_location']}</event_location> has no follow"
                " equivalent: the follower spools alerts from every location"
            )
        filter_updates = {key: values[tag] for tag, key in follow_service.FILTER_SETTINGS.items() if tag in values}
        drop = frozenset(follow_service.FILTER_SETTINGS.values()) - set(filter_updates)
    elif installed == "follow":  # the filters move back into the block
        drop = frozenset(follow_service.FILTER_SETTINGS.values())
    if installed and installed != mode:
        detail = (
            "the follow service replaces the ossec.conf block"
            if mode == "follow"
            else "the ossec.conf block replaces the follow service"
        )
        plan.add("Mode", [Change("switch", f"{installed} -> {mode}", detail)])

    # Settings first: everything else is derived from them (spool directory, destination).
    config_path = layout.phys(layout.config)
    existing = None if args.reset_config else read_settings_file(layout)
    updates = {**filter_updates, **_config_updates(args)}
    # What doctor checks the schedule against: `none` is then the administrator's choice, not a fault.
    updates[wazuh_ocsf.config.SETTINGS_BY_ATTR["scheduler"].env] = _scheduler(args, target)
    if existing is None or args.reset_config:
        updates = {wazuh_ocsf.config.SETTINGS_BY_ATTR["wazuh_home"].env: target.home, **updates}
    text = config_file.compose(existing, updates, reset=args.reset_config, drop=drop)
    settings = config_file.validate(text, target.home)
    if not (settings.bucket or settings.output_dir):
        plan.warnings.append(
            "no destination configured (--bucket, or --output-dir for the local sink):"
            " events wait in the spool until one is"
        )
    elif not settings.has_destination(settings.ocsf_class):
        plan.warnings.append(
            "no custom source name for the OCSF class (--source-name): the flusher has nowhere to put objects"
        )

    base_python = _base_python(args, manager)
    venv_phys = layout.phys(layout.venv)
    wheelhouse = os.path.abspath(args.wheelhouse) if args.wheelhouse else None
    venv_changes, current = venv.plan_venv(
        venv_phys,
        layout.venv + "/",
        base_python=base_python,
        source_dir=SOURCE_DIR,
        version=version,
        wheelhouse=wheelhouse,
        no_deps=args.no_deps,
        rebuild=args.rebuild_venv,
    )
    pythons = [os.path.join(venv_phys, "bin", "python3")]
    if _embedded_python(manager):
        pythons.append(manager.embedded_python)
    lib_phys = layout.phys(layout.lib)
    lib_ok = (
        current is not None and current.get("version") == version and not venv.lib_differs(current["package"], lib_phys)
    )

    def sync_lib() -> None:
        now = venv.probe(venv_phys)
        if not now or now.get("version") != version:
            raise InstallError(
                f"the virtual environment {venv_phys} does not hold wazuh-ocsf {version} after pip install"
            )
        missing = now.get("missing") or []
        if missing:
            plan.warnings.append(
                f"the virtual environment lacks {', '.join(missing)}: the flusher cannot run until they are installed"
                " (re-run without --no-deps, or add them to the wheelhouse)"
            )
        venv.sync_lib(now["package"], lib_phys, root_owner, pythons)

    lib_detail = f"{root_owner.label} 0750/0640, byte-compiled; the hook imports it from here"
    venv_changes.append(
        Change("keep", layout.lib + "/", lib_detail)
        if lib_ok
        else Change("sync", layout.lib + "/", lib_detail, sync_lib)
    )
    venv_changes.insert(0, plan_dir(layout.phys(layout.base), layout.base, root_owner, 0o750))
    venv_changes.append(plan_symlink(layout.phys(layout.link), layout.link, layout.console_script))
    plan.add("Package", venv_changes)

    source = os.path.join(SOURCE_DIR, "integrations", INTEGRATION_NAME)
    hook_python = _hook_python(layout, manager)
    try:
        with open(source, "rb") as handle:
            data = integration.render(handle.read(), hook_python)
    except OSError as exc:
        raise InstallError(
            f"cannot read {source}: {exc}; run the installer from a complete wazuh-ocsf source tree"
        ) from None
    integration_changes = [plan_file(layout.phys(layout.integration), layout.integration, data, root_owner, 0o750)]
    changing = not lib_ok or integration_changes[0].verb != "keep"
    if changing and not target.is_fake_root and os.geteuid() == 0:  # under --root the paths are not the manager's
        hook_check = _plan_hook_check(hook_python, os.path.dirname(lib_phys), user_owner, target.home)
        integration_changes.insert(0, hook_check)
    # An older install's sh wrapper ran this .py: the integration above replaces both.
    legacy = layout.integrations[1]
    integration_changes.append(plan_remove(layout.phys(legacy), legacy, "the sh wrapper's script: no longer used"))
    plan.add("Integration (run by wazuh-integratord, which refuses files writable by its user)", integration_changes)

    shown = config_file.masked(text)
    plan.add("Settings", [plan_file(config_path, layout.config, text.encode(), root_owner, 0o640, body=shown)])
    plan.add("Spool", [plan_data_dir(layout, record, settings.spool_dir, user_owner, what="the spool")])
    if settings.output_dir:
        sink = plan_data_dir(layout, record, settings.output_dir, user_owner, what="--output-dir (the local sink)")
        plan.add("Local sink", [sink])
    view = plan_monitor(args, layout, record, plan, user_owner)
    plan.add(*plan_schedule(args, layout, root_owner, plan, view))
    if mode == "follow":
        # The block goes first: until the manager restarts, integratord still runs the hook (see plan_follow).
        plan.add("Manager configuration", [plan_ossec_conf(layout, plan, None)])
        plan.add(follow_service.SECTION, plan_follow(args, layout, plan, settings))
    else:
        plan.add(follow_service.SECTION, plan_follow_removal(layout, plan))
        plan.add("Manager configuration", [plan_ossec_conf(layout, plan, values)])
    if installed and installed != mode:
        plan.after_restart.append(follow_service.switch_advice(installed, mode, switched_at))
    return plan


def plan_monitor(args, layout: Layout, record: InstallRecord, plan: Plan, user_owner: Owner) -> str | None:
    """``--monitor-group``: the status view's directory; returns the view's logical path (None: no view).

    The group gets ``status --json`` as the flush schedule writes it after every flush, in a
    directory of its own outside the Wazuh home: no settings file, no spool, no secret.
    """
    group = record.monitor_group if args.monitor_group is None else args.monitor_group
    if not group:
        if record.monitor_group:
            plan.add(
                "Monitoring",
                [
                    Change(
                        "set",
                        "no monitor group",
                        "the status view is no longer written",
                        lambda: record.set_monitor_group(None),
                    )
                ],
            )
        return None
    rootfs = layout.target.root if layout.target.is_fake_root else None
    owner = resolve_owner(args.user, group, rootfs)
    directory = os.path.dirname(STATUS_VIEW)
    changes = [plan_data_dir(layout, record, directory, owner, what="the status view directory", mode=0o2750)]
    if group != record.monitor_group:
        changes.append(
            Change("set", f"monitor group {group}", f"reads {STATUS_VIEW}", lambda: record.set_monitor_group(group))
        )
    plan.add("Monitoring", changes)
    plan.next_steps.append(
        f"members of {group} can read {STATUS_VIEW}: `wazuh-ocsf status --json` as of the last flush"
        ' (check its "healthy" and that its "time" is recent)'
    )
    return STATUS_VIEW


def plan_follow(args, layout: Layout, plan: Plan, settings) -> list:
    """Install, enable and (re)start ``wazuh-ocsf-follow.service``; under ``--root`` only its files.

    When this run also removes the ossec.conf block, the follower must not start before the
    manager restarts: integratord keeps running the hook until then, and both would spool the
    same alerts. With ``--restart`` the restart is placed before this section; without it the
    service is only enabled, and the administrator is told to start it after the restart.
    """
    target = layout.target
    plan.restart_before = follow_service.SECTION
    writable = follow_service.writable_paths(layout.base, settings.spool_dir)
    text = follow_service.render_service(
        venv=layout.venv, config=layout.config, user=args.user, group=args.group, writable=writable
    )
    unit = _plan_unit(layout, layout.follow_unit, text)
    changes = [unit]
    service = follow_service.SERVICE
    if target.is_fake_root:  # enable as `systemctl --root` would: it starts at the target's next boot
        changes.append(plan_symlink(layout.phys(follow_service.WANTS), follow_service.WANTS, layout.follow_unit))
        plan.next_steps.append(f"on a running target system: systemctl daemon-reload && systemctl start {service}")
        return changes
    refreshed = unit.verb != "keep" or any(
        c.verb != "keep" for title, cs in plan.sections if title in ("Package", "Settings") for c in cs
    )
    if plan.manager_config_changed and not args.restart:
        changes.append(
            Change(
                "run",
                f"systemctl daemon-reload; systemctl enable {service}",
                "started after the manager restart, below",
                apply=_systemctl(["daemon-reload"], ["enable", service]),
            )
        )
        plan.after_restart.append(
            f"then start the follower: systemctl start {service} (not before the manager restart: until then"
            " integratord still runs the hook, and both would spool the same alerts)"
        )
    elif refreshed or plan.manager_config_changed:
        changes.append(
            Change(
                "run",
                f"systemctl daemon-reload; systemctl enable {service}; systemctl restart {service}",
                apply=_systemctl(["daemon-reload"], ["enable", service], ["restart", service]),
            )
        )
    return changes


def plan_follow_removal(layout: Layout, plan: Plan) -> list:
    """Stop, disable and remove ``wazuh-ocsf-follow.service`` (under ``--root``: its files only)."""
    unit = layout.follow_unit
    ours = schedule.is_ours(read_text(layout.phys(unit)))
    return _plan_unit_removal(layout, plan, [unit], unit, follow_service.WANTS, live=ours)


def spool_backlog(spool_dir: str) -> tuple[int, int]:
    """Unsent segment files in a spool and their bytes."""
    count = size = 0
    segments = os.path.join(spool_dir, SEGMENTS)
    for name in os.listdir(segments) if os.path.isdir(segments) else ():
        path = os.path.join(segments, name)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            count += 1
            size += os.path.getsize(path)
    return count, size


def plan_uninstall(args) -> Plan:
    """Every change that removes what the installer added, and nothing else."""
    target = Target(args.root, args.home)
    manager = detect_manager(target, uninstalling=True)
    layout = Layout(target, args.bin_dir)
    plan = Plan(f"uninstall wazuh-ocsf from {manager.describe()} at {target.home}")
    # The follower stops first: it would keep filling the spool that is flushed or deleted below.
    plan.add(follow_service.SECTION, plan_follow_removal(layout, plan))
    config_path = layout.phys(layout.config)
    record = InstallRecord.load(layout.phys(layout.record))
    try:
        spool_logical = config_file.validate(read_settings_file(layout) or "", target.home).spool_dir
    except InstallError as exc:
        plan.warnings.append(f"the settings cannot be used ({exc}): only the default spool is considered")
        spool_logical = layout.default_spool
    spool_ours = record.created(spool_logical) or os.path.normpath(spool_logical) == layout.default_spool
    spool_phys = target.path(spool_logical)
    backlog, size = spool_backlog(spool_phys)
    first = []
    if args.purge and spool_ours and backlog and not args.force:
        script = layout.phys(layout.console_script)
        if target.is_fake_root or not os.access(script, os.X_OK):
            raise InstallError(
                f"the spool {spool_logical} holds {backlog} unsent segment file(s) ({size} bytes): flush them"
                " (wazuh-ocsf flush) or pass --force to delete them with the spool"
            )

        def flush() -> None:
            env = dict(os.environ, WAZUH_OCSF_CONFIG=layout.config)
            subprocess.run([script, "flush"], env=env, check=False)
            left, left_size = spool_backlog(spool_phys)
            if left:
                raise InstallError(
                    f"the flush left {left} unsent segment file(s) ({left_size} bytes) in {spool_logical}: nothing was"
                    " removed; fix the destination and flush, or pass --force to delete them"
                )

        first.append(
            Change("run", f"{layout.console_script} flush", f"{backlog} unsent segment file(s) in the spool", flush)
        )
    plan.add("Unsent events", first)

    units_present = any(os.path.exists(layout.phys(u)) for u in layout.units)
    sched = _plan_unit_removal(layout, plan, layout.units, layout.timer, layout.timer_wants, live=units_present)
    sched.append(_remove_if_ours(layout, schedule.CRON_FILE, plan))
    plan.add("Flush schedule", sched)
    plan.add("Manager configuration", [plan_ossec_conf(layout, plan, None)])
    plan.add("Integration", [plan_remove(layout.phys(p), p) for p in layout.integrations])

    package = []
    link = layout.phys(layout.link)
    if os.path.islink(link) and os.readlink(link) == layout.console_script:
        package.append(plan_remove(link, layout.link))
    elif os.path.lexists(link):
        plan.warnings.append(f"{layout.link} does not point to wazuh-ocsf's virtual environment: left in place")
    package.append(plan_remove(layout.phys(layout.venv), layout.venv))
    package.append(plan_remove(layout.phys(os.path.dirname(layout.lib)), os.path.dirname(layout.lib)))
    plan.add("Package", package)
    if args.keep_config:
        if os.path.exists(config_path):
            plan.add("Settings", [Change("keep", layout.config, "--keep-config")])
    else:
        plan.add("Settings", [plan_remove(config_path, layout.config)])

    view_dir = os.path.dirname(STATUS_VIEW)
    if record.created(view_dir):
        plan.add("Monitoring", [plan_remove(layout.phys(view_dir), view_dir, "the status view")])
    spool = []
    if args.purge and not spool_ours:
        plan.warnings.append(
            f"the spool {spool_logical} was not created by the installer (it is not in {layout.record}):"
            " --purge left it in place"
        )
    elif args.purge:
        detail = f"{backlog} unsent segment file(s) deleted (--force)" if backlog and args.force else ""
        spool.append(plan_remove(spool_phys, spool_logical, detail))
    elif os.path.isdir(spool_phys):
        spool.append(
            Change("keep", spool_logical + "/", f"{backlog} unsent segment file(s); --purge removes the spool")
        )
    base_phys = layout.phys(layout.base)
    if os.path.isdir(base_phys):

        def remove_base() -> None:
            # The record goes last, and stays while a spool it lists is kept elsewhere (a later --purge needs it).
            left = record.created(spool_logical) and os.path.isdir(spool_phys)
            if os.path.isdir(base_phys) and set(os.listdir(base_phys)) <= {RECORD_NAME} and not left:
                if os.path.lexists(layout.phys(layout.record)):
                    os.unlink(layout.phys(layout.record))
                os.rmdir(base_phys)

        if args.purge or not os.path.isdir(spool_phys) or not spool_phys.startswith(base_phys + os.sep):
            spool.append(Change("remove", layout.base + "/", "if empty", remove_base))
    plan.add("Spool", spool)
    return plan


def _manager_restart_command(target: Target, *, physical: bool) -> list:
    """The command that restarts the manager: ``systemctl`` where systemd runs, else ``wazuh-control``.

    ``physical``: wazuh-control's path on the filesystem the installer works on (under ``--root``), else as
    the manager sees it (for the administrator to type).
    """
    if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        return ["systemctl", "restart", "wazuh-manager"]
    control = target.home_path("bin", "wazuh-control")
    return [target.path(control) if physical else control, "restart"]


def restart_change(target: Target) -> Change:
    """Restart the manager so integratord reads ossec.conf again."""
    command = _manager_restart_command(target, physical=True)
    if command[0] == "systemctl":
        return Change("run", " ".join(command), apply=_systemctl(command[1:]))

    def apply() -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InstallError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout.strip()}")

    return Change("run", " ".join(command), apply=apply)


def restart_hint(target: Target) -> str:
    """The one command that restarts the manager."""
    return " ".join(_manager_restart_command(target, physical=False))
