"""``wazuh-ocsf doctor``: every way the installation can be broken, checked one by one.

Each check is a small function of a :class:`Context` returning a :class:`Check` (ok, warn,
fail or skip, what was found, and the fix when it is not ok). Checks run in the order a
problem shows up in practice: configuration, manager configuration, files and permissions,
interpreters, schedule, then AWS (credentials, provider role, bucket) and, with ``--probe``
only, a zero-row Parquet object of the real schema written where the flusher writes.

Nothing here changes the installation. The only write is the probe, left in place on
purpose: the provider role may not delete, and anything but Parquet under the source's
location could break the Glue crawler. Paths (Wazuh home, systemd and cron directories) and
the manager's user are parameters, so tests run every check against a directory tree.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from wazuh_ocsf.config import (
    CLASS_NAMES,
    ROUTED_CLASSES,
    SECURITY_FINDING,
    Settings,
    config_location,
    load_settings,
)
from wazuh_ocsf.errors import ConfigError, SinkError
from wazuh_ocsf.operations import ossec_conf

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

INTEGRATION = ossec_conf.INTEGRATION_NAME
TIMER = "wazuh-ocsf-flush.timer"
SERVICE = "wazuh-ocsf-flush.service"
CRON_FILE = "wazuh-ocsf"
SUBPROCESS_TIMEOUT = 60
PROBE_KEY_NAME = "wazuh-ocsf-doctor-reachability-check"
_ROLE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_LAKE_BUCKET = re.compile(r"^aws-security-data-lake-([a-z0-9-]+?)-[a-z0-9]+$")
_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


@dataclass(frozen=True)
class Check:
    """The outcome of one check. ``fix`` says what to do when ``status`` is warn or fail."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Layout:
    """Where things are on this manager. Defaults are the installer's; tests point them elsewhere."""

    wazuh_home: str = "/var/ossec"
    systemd_dir: str = "/etc/systemd/system"
    cron_dir: str = "/etc/cron.d"
    user: str = "wazuh"  # the user wazuh-integratord runs the hook as
    group: str = "wazuh"

    @property
    def ossec_conf(self) -> str:
        return os.path.join(self.wazuh_home, "etc", "ossec.conf")

    @property
    def integration(self) -> str:
        return os.path.join(self.wazuh_home, "integrations", INTEGRATION)

    @property
    def legacy_script(self) -> str:
        """The ``.py`` an older install's ``sh`` wrapper ran (an upgrade removes it)."""
        return self.integration + ".py"

    @property
    def lib_dir(self) -> str:
        return os.path.join(self.wazuh_home, "wazuh-ocsf", "lib")

    @property
    def venv_python(self) -> str:
        return os.path.join(self.wazuh_home, "wazuh-ocsf", "venv", "bin", "python3")

    @property
    def framework_python(self) -> str:
        return os.path.join(self.wazuh_home, "framework", "python", "bin", "python3")


@dataclass
class Context:
    """What the checks share: the layout, the settings (None when invalid) and AWS results."""

    layout: Layout
    config_path: str | None = None
    environ: dict | None = None
    probe: bool = False
    settings: Settings | None = None
    config_error: str | None = None
    aws: dict = field(default_factory=dict)  # results later AWS checks depend on


# -- helpers ----------------------------------------------------------------------------------


class _Identity:
    """A user's uid and every gid it has (primary and supplementary)."""

    def __init__(self, user: str, group: str) -> None:
        entry = pwd.getpwnam(user)
        self.name = user
        self.uid = entry.pw_uid
        self.gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
        try:
            self.group_gid = grp.getgrnam(group).gr_gid
        except KeyError:
            self.group_gid = entry.pw_gid
        self.group = group

    def can(self, st: os.stat_result, bits: str) -> bool:
        """Whether this user may ``r``/``w``/``x`` a file with status ``st`` (root may always)."""
        if self.uid == 0:
            return True
        shift = 6 if st.st_uid == self.uid else 3 if st.st_gid in self.gids else 0
        need = {"r": 4, "w": 2, "x": 1}
        return all(st.st_mode >> shift & need[b] for b in bits)


def _identity(layout: Layout) -> _Identity | None:
    try:
        return _Identity(layout.user, layout.group)
    except KeyError:
        return None


def _no_user(layout: Layout, name: str) -> Check:
    return Check(
        name,
        FAIL,
        f"user {layout.user!r} does not exist: is this a Wazuh manager?",
        "install the Wazuh manager, or pass --user with the user wazuh-integratord runs as",
    )


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group} {stat.S_IMODE(st.st_mode):04o}"


def _demote(identity: _Identity | None):
    """subprocess arguments that run a child as the manager's user when we are root."""
    if os.geteuid() == 0 and identity is not None and identity.uid != 0:
        return {"user": identity.uid, "group": identity.group_gid, "extra_groups": sorted(identity.gids)}
    return {}


def _run(argv: list, identity: _Identity | None, cwd: str | None = None) -> subprocess.CompletedProcess:
    extra = _demote(identity)
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=cwd if cwd and os.path.isdir(cwd) else None,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        check=False,
        **extra,
    )


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


# -- configuration ------------------------------------------------------------------------------


def check_config(ctx: Context) -> Check:
    """The config file loads, and says where events go (destination, region, account)."""
    name = "config"
    try:
        settings = load_settings(wazuh_home=ctx.layout.wazuh_home, path=ctx.config_path, environ=ctx.environ)
    except ConfigError as exc:
        ctx.config_error = str(exc)
        _, where = config_location(wazuh_home=ctx.layout.wazuh_home, path=ctx.config_path, environ=ctx.environ)
        return Check(name, FAIL, f"invalid setting {exc}", f"correct {exc.setting} in {where}")
    ctx.settings = settings
    missing = []
    lake_layout = settings.bucket or settings.output_dir  # sinks that write Security Lake's partition tree
    if not lake_layout and not settings.http_url:
        missing.append(
            "WAZUH_OCSF_BUCKET (AWS_BUCKET), or WAZUH_OCSF_OUTPUT_DIR for a local tree, or WAZUH_OCSF_HTTP_URL"
        )
    if lake_layout and not settings.has_destination(settings.ocsf_class):
        missing.append(f"the custom source of {CLASS_NAMES[settings.ocsf_class]}: WAZUH_OCSF_SOURCE_LOCATION")
    if lake_layout and not settings.region:
        missing.append("WAZUH_OCSF_REGION (REGION)")
    if lake_layout and not settings.account_id:
        missing.append("WAZUH_OCSF_ACCOUNT_ID (ACCOUNT_ID)")
    for setting in _role_settings(settings):
        value = getattr(settings, setting.attr)
        if value and not _ROLE_ARN.match(value):
            missing.append(f"a valid {setting.env} (got {value!r})")
    if missing:
        fix = "set " + "; ".join(missing) + f" in {settings.config_path}"
        return Check(name, FAIL, f"{settings.config_path}: incomplete", fix)
    from wazuh_ocsf.operations.status import destinations

    where = [f"{cls} → {', '.join(places)}" for cls, places in sorted(destinations(settings).items()) if places]
    detail = f"{settings.config_path}: class {CLASS_NAMES[settings.ocsf_class]}; " + ", ".join(where)
    detail += _routing_note(settings)
    if settings.bucket and any(settings.destination_roles()) and not settings.external_id:
        return Check(
            name,
            WARN,
            detail + "; a provider role (WAZUH_OCSF_ROLE_ARN) is set without WAZUH_OCSF_EXTERNAL_ID",
            "Security Lake provider roles trust the external id given at create-source: set WAZUH_OCSF_EXTERNAL_ID",
        )
    return Check(name, OK, detail)


def _role_settings(settings: Settings) -> list:
    """``ROLE_ARN`` and each class's ``<CLASS>_ROLE_ARN`` setting."""
    from wazuh_ocsf.config import SETTINGS

    return [s for s in SETTINGS if s.attr == "role_arn" or s.attr.endswith("_role_arn")]


def _routing_note(settings: Settings) -> str:
    """Which ``auto`` routes are active and why the others are not; the deprecation of 2001."""
    if not settings.routing:
        if settings.ocsf_class == SECURITY_FINDING:
            return (
                "; Security Finding (2001) is deprecated in OCSF 1.1.0: WAZUH_OCSF_OCSF_CLASS=auto puts each alert "
                "in the class that fits it (README, Routing)"
            )
        return ""
    active = settings.active_routes()
    finding = CLASS_NAMES[settings.ocsf_class]
    note = f"; auto: alerts no route takes go to {finding}; active routes: "
    note += ", ".join(CLASS_NAMES[uid] for uid in active) or "none"
    inactive = [CLASS_NAMES[uid] for uid in ROUTED_CLASSES if uid not in active]
    if inactive:
        names = ", ".join(f"WAZUH_OCSF_{name.upper()}_SOURCE" for name in inactive)
        note += f"; inactive (no destination, their alerts go to {finding}): {', '.join(inactive)}"
        note += f"; set {names} to route them"
    return note


def check_config_file(ctx: Context) -> Check:
    """The config file (it holds the external id) is not readable by everyone or writable by wazuh."""
    name = "config file permissions"
    if ctx.settings:
        path = ctx.settings.config_path
    else:
        _, path = config_location(wazuh_home=ctx.layout.wazuh_home, path=ctx.config_path, environ=ctx.environ)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Check(name, WARN, f"{path} does not exist: every setting is at its default or from the environment",
                     "run the installer, or write the settings into this file")
    identity = _identity(ctx.layout)
    fix = f"chown root:{ctx.layout.group} {path} && chmod 0640 {path}"
    if st.st_mode & 0o004:
        return Check(name, FAIL, f"{path} is {_owner(st)}: readable by every local user (it holds the external id)",
                     fix)
    if identity is not None and st.st_uid != identity.uid and identity.can(st, "w") and identity.uid != 0:
        return Check(name, FAIL, f"{path} is {_owner(st)}: writable by {identity.name}", fix)
    if identity is not None and not identity.can(st, "r"):
        return Check(name, FAIL, f"{path} is {_owner(st)}: {identity.name} (the hook) cannot read it", fix)
    return Check(name, OK, f"{path} is {_owner(st)}")


def check_wazuh_version(ctx: Context) -> Check:
    """A Wazuh 4.x manager: 5.x has neither wazuh-integratord nor alerts.json."""
    name = "wazuh version"
    path = os.path.join(ctx.layout.wazuh_home, "VERSION.json")
    try:
        with open(path, encoding="utf-8") as handle:
            version = str(json.load(handle).get("version", "")).lstrip("v")
    except (OSError, ValueError, AttributeError) as exc:
        return Check(name, WARN, f"cannot read {path}: {exc}", "check that --wazuh-home is the manager's home")
    major = version.split(".")[0]
    if major.isdigit() and int(major) >= 5:
        return Check(
            name,
            FAIL,
            f"Wazuh {version}: Wazuh 5 removed wazuh-integratord and alerts.json, which this integration needs",
            "stay on Wazuh 4.x with wazuh-ocsf, or ship from Wazuh 5's own outputs",
        )
    if major != "4":
        return Check(name, WARN, f"Wazuh {version or '?'}: wazuh-ocsf is made for Wazuh 4.x", "")
    return Check(name, OK, f"Wazuh {version}")


def check_ossec_block(ctx: Context) -> Check:
    """Exactly one ``custom-wazuh-ocsf`` integration block, JSON alerts, only accepted tags."""
    name = "ossec.conf integration"
    path = ctx.layout.ossec_conf
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        return Check(name, FAIL, f"cannot read {path}: {exc.strerror or exc}", "check --wazuh-home and permissions")
    blocks = ossec_conf.ours(text)
    example = (
        f"<ossec_config><integration><name>{INTEGRATION}</name><alert_format>json</alert_format>"
        "</integration></ossec_config>"
    )
    if not blocks:
        return Check(
            name,
            FAIL,
            f"{path} has no <integration> block named {INTEGRATION}: integratord never runs the hook",
            f"re-run the installer, or add {example} and restart the manager",
        )
    if len(blocks) > 1:
        lines = ", ".join(str(b.line) for b in blocks)
        return Check(
            name,
            FAIL,
            f"{path} has {len(blocks)} {INTEGRATION} blocks (lines {lines}): every alert would be spooled twice",
            "keep one block and restart the manager",
        )
    block = blocks[0]
    found = ossec_conf.block_problems(block)
    if found:
        return Check(
            name,
            FAIL,
            f"{path} line {block.line}: " + "; ".join(found),
            "allowed tags: " + ", ".join(ossec_conf.ALLOWED_TAGS) + "; fix the block and restart the manager",
        )
    tags = ", ".join(f"{t}={v}" for t, v, _ in block.children if t not in ("name", "api_key", "hook_url"))
    return Check(name, OK, f"{path} line {block.line}: {tags}")


# -- files, users and interpreters ------------------------------------------------------------


def check_integration_file(ctx: Context) -> Check:
    """The integration (and an older install's .py): root-owned, group wazuh or root, not writable by wazuh."""
    name = "integration file"
    identity = _identity(ctx.layout)
    if identity is None:
        return _no_user(ctx.layout, name)
    files = [(ctx.layout.integration, "rx")]
    if os.path.lexists(ctx.layout.legacy_script):  # an older install's sh wrapper runs it
        files.append((ctx.layout.legacy_script, "r"))
    paths = " ".join(path for path, _ in files)
    fix = f"chown root:{ctx.layout.group} {paths} && chmod 0750 {paths}"
    details = []
    for path, needs in files:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Check(name, FAIL, f"{path} does not exist", "re-run the installer")
        if not stat.S_ISREG(st.st_mode):
            return Check(name, FAIL, f"{path} is not a regular file", "re-run the installer")
        if st.st_uid != 0:
            return Check(name, FAIL, f"{path} is {_owner(st)}: integratord wants it owned by root", fix)
        if st.st_gid not in (0, identity.group_gid):
            return Check(name, FAIL, f"{path} is {_owner(st)}: its group must be {ctx.layout.group} (or root)", fix)
        if st.st_mode & 0o022:
            return Check(
                name,
                FAIL,
                f"{path} is {_owner(st)}: writable by its group or others, so {identity.name} could change "
                "what the manager runs",
                fix,
            )
        if not identity.can(st, needs):
            return Check(name, FAIL, f"{path} is {_owner(st)}: {identity.name} cannot {needs} it", fix)
        details.append(f"{os.path.basename(path)} {_owner(st)}")
    return Check(name, OK, ", ".join(details))


def check_spool(ctx: Context) -> Check:
    """The spool and everything in it can be written by the hook's user; room left on the disk."""
    name = "spool"
    if ctx.settings is None:
        return Check(name, SKIP, "configuration invalid")
    identity = _identity(ctx.layout)
    if identity is None:
        return _no_user(ctx.layout, name)
    spool = ctx.settings.spool_dir
    fix = f"chown -R {ctx.layout.user}:{ctx.layout.group} {spool} && chmod 0750 {spool}"
    try:
        st = os.stat(spool)
    except FileNotFoundError:
        return Check(name, FAIL, f"{spool} does not exist: the hook keeps nothing", f"mkdir -p {spool} && " + fix)
    if not stat.S_ISDIR(st.st_mode):
        return Check(name, FAIL, f"{spool} is not a directory", "set WAZUH_OCSF_SPOOL_DIR to a directory")
    blocked = []
    for path in _spool_entries(spool):
        try:
            entry = os.lstat(path)
        except FileNotFoundError:
            continue
        needs = "rwx" if stat.S_ISDIR(entry.st_mode) else "rw"
        if not identity.can(entry, needs):
            blocked.append(f"{path} ({_owner(entry)})")
    if blocked:
        more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
        return Check(
            name,
            FAIL,
            f"{identity.name} cannot write " + ", ".join(blocked[:3]) + more + " (a flush run as another user?)",
            fix,
        )
    free = _free_bytes(spool)
    detail = f"{spool} is {_owner(st)}, writable by {identity.name}"
    if free is not None and free < ctx.settings.spool_max_bytes:
        return Check(
            name,
            WARN,
            f"{detail}; only {free // 2**20} MiB free on its file system, below the "
            f"{ctx.settings.spool_max_bytes // 2**20} MiB cap",
            "free disk space or lower WAZUH_OCSF_SPOOL_MAX_BYTES",
        )
    return Check(name, OK, detail)


def check_output_dir(ctx: Context) -> Check:
    """WAZUH_OCSF_OUTPUT_DIR (the local sink) exists, or can be made, and the flush's user may write it.

    A flush started as root writes as the spool's owner, so that is the user checked.
    """
    name = "output directory"
    if ctx.settings is None:
        return Check(name, SKIP, "configuration invalid")
    directory = ctx.settings.output_dir
    if not directory:
        return Check(name, SKIP, "no local sink (WAZUH_OCSF_OUTPUT_DIR is not set)")
    directory = os.path.abspath(directory)
    identity = _flush_identity(ctx)
    if identity is None:
        return _no_user(ctx.layout, name)
    fix = f"mkdir -p {directory} && chown {identity.name}:{identity.group} {directory} && chmod 0750 {directory}"
    existing = directory
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    st = os.stat(existing)
    if existing == directory:
        if not stat.S_ISDIR(st.st_mode):
            return Check(name, FAIL, f"{directory} is not a directory", "set WAZUH_OCSF_OUTPUT_DIR to a directory")
        if not identity.can(st, "wx"):
            detail = f"{directory} is {_owner(st)}: the flush (as {identity.name}) cannot write it"
            return Check(name, FAIL, detail, fix)
        return Check(name, OK, f"{directory} is {_owner(st)}, writable by {identity.name} (the flush's user)")
    if stat.S_ISDIR(st.st_mode) and identity.can(st, "wx"):
        return Check(name, OK, f"{directory} does not exist yet; the first flush (as {identity.name}) creates it")
    return Check(
        name,
        FAIL,
        f"{directory} does not exist and the flush (as {identity.name}) cannot create it in {existing} ({_owner(st)})",
        fix,
    )


def _flush_identity(ctx: Context) -> _Identity | None:
    """Who a flush writes as: the spool's owner (a root flush switches to it), else the manager's user."""
    try:
        owner = os.stat(ctx.settings.spool_dir).st_uid
    except OSError:
        owner = None
    if owner not in (None, 0):
        try:
            return _Identity(pwd.getpwuid(owner).pw_name, ctx.layout.group)
        except KeyError:
            pass
    return _identity(ctx.layout)


def _spool_entries(spool: str) -> list:
    """The spool directory, its subdirectories and the files in them (not deeper)."""
    entries = [spool]
    try:
        with os.scandir(spool) as top:
            for entry in top:
                entries.append(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    with os.scandir(entry.path) as inner:
                        entries.extend(child.path for child in inner)
    except OSError:
        pass
    return entries


def _free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def hook_pythons(layout: Layout) -> list:
    """The interpreters the integration may run on, in its order.

    The installed integration names its one in its ``#!`` line (``#!<venv>/bin/python3 -IS``);
    an older install's ``sh`` wrapper (or a checkout's) tries the installer's venv, then the
    manager's Python.
    """
    try:
        with open(layout.integration, "rb") as handle:
            first = handle.readline(512)
    except OSError:
        first = b""
    interpreter = first[2:].split(maxsplit=1)[0].decode(errors="replace") if first.startswith(b"#!/") else ""
    if os.path.basename(interpreter).startswith("python"):
        return [interpreter]
    return [layout.venv_python, layout.framework_python]


#: ``<python> -I -S -c HOOK_PROBE <lib>``: imports what the hook imports on success from ``<lib>`` and
#: prints the package's version, the interpreter's ``X.Y`` and where the package was found (the
#: installer runs it too, as the manager's user, before it writes the integration's ``#!`` line).
HOOK_PROBE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from wazuh_ocsf.hook import bundle; [__import__(name) for name in bundle.ROOTS]; import wazuh_ocsf; "
    "print(wazuh_ocsf.__version__, '%d.%d' % sys.version_info[:2], wazuh_ocsf.__file__)"
)


def check_hook_interpreter(ctx: Context) -> Check:
    """The integration's interpreter imports the hook from the lib copy, run as the manager's user.

    The interpreter of the integration's ``#!`` line (:func:`hook_pythons`); the import runs with
    ``-I -S`` as the hook does.
    """
    name = "hook interpreter"
    identity = _identity(ctx.layout)
    root = ctx.layout.lib_dir if os.path.isdir(ctx.layout.lib_dir) else ctx.layout.wazuh_home
    user = f" as {identity.name}" if _demote(identity) else ""
    tried = []
    for python in hook_pythons(ctx.layout):
        try:
            done = _run([python, "-I", "-S", "-c", HOOK_PROBE, root], identity, cwd=ctx.layout.wazuh_home)
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            tried.append(f"{python}: {exc.strerror or exc}")
            continue  # an older sh wrapper's `[ -x ]` fails the same way: it tries the next one
        except (OSError, subprocess.SubprocessError) as exc:
            return Check(name, FAIL, f"{python}{user} cannot be run: {exc}", "re-run the installer")
        break
    else:
        return Check(
            name,
            FAIL,
            f"no interpreter the integration can run{user}: " + "; ".join(tried),
            "re-run the installer: it writes the integration's #! line for an interpreter the manager's user can run",
        )
    if done.returncode != 0:
        return Check(
            name,
            FAIL,
            f"{python} -I -S{user} cannot import wazuh_ocsf.hook.run from {root}: {_last_line(done.stderr)}",
            "re-run the installer (it copies the package to <home>/wazuh-ocsf/lib, readable by the manager's group)",
        )
    version, py_version, where = [*done.stdout.split(), "?", "?", "?"][:3]
    major, _, minor = py_version.partition(".")
    if not (major.isdigit() and minor.isdigit()) or (int(major), int(minor)) < (3, 9):
        detail = f"{python} is Python {py_version}: the hook needs 3.9 or newer"
        return Check(name, FAIL, detail, "re-run the installer")
    skipped = f" (skipped {'; '.join(tried)})" if tried else ""
    return Check(name, OK, f"{python} (Python {py_version}){user} imports wazuh-ocsf {version} from {where}{skipped}")


_FLUSHER_PROBE = (
    "import json, sys, pyarrow, boto3, wazuh_ocsf; "
    "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'pyarrow': pyarrow.__version__, "
    "'boto3': boto3.__version__, 'version': wazuh_ocsf.__version__, 'file': wazuh_ocsf.__file__}))"
)


def _tree_digest(package_dir: str) -> str | None:
    digest = hashlib.sha256()
    files = sorted(Path(package_dir).rglob("*.py"))
    if not files:
        return None
    for path in files:
        digest.update(str(path.relative_to(package_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check_flusher_environment(ctx: Context) -> Check:
    """The venv's Python runs, has pyarrow and boto3, and holds the same wazuh-ocsf as the hook's lib copy."""
    name = "flusher environment"
    python = ctx.layout.venv_python
    if not os.access(python, os.X_OK):
        return Check(name, FAIL, f"{python} does not exist or cannot be run", "re-run the installer")
    try:
        done = _run([python, "-I", "-c", _FLUSHER_PROBE], None, cwd=ctx.layout.wazuh_home)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(name, FAIL, f"{python} cannot be run: {exc}", "re-run the installer")
    if done.returncode != 0:
        return Check(name, FAIL, f"{python}: {_last_line(done.stderr)}", "re-run the installer to rebuild the venv")
    try:
        found = json.loads(_last_line(done.stdout))
    except ValueError:
        return Check(name, FAIL, f"{python} printed {_last_line(done.stdout)!r}", "re-run the installer")
    detail = f"{python}: Python {found['python']}, pyarrow {found['pyarrow']}, boto3 {found['boto3']}"
    lib_package = os.path.join(ctx.layout.lib_dir, "wazuh_ocsf")
    try:
        with open(os.path.join(lib_package, "__init__.py"), encoding="utf-8") as handle:
            match = _VERSION.search(handle.read())
    except OSError:
        return Check(
            name, WARN, f"{detail}, wazuh-ocsf {found['version']}; no lib copy at {lib_package}", "re-run the installer"
        )
    lib_version = match.group(1) if match else "?"
    if lib_version != found["version"]:
        return Check(
            name,
            FAIL,
            f"{detail}: stale: the venv has wazuh-ocsf {found['version']}, the hook's lib copy {lib_version}",
            "re-run the installer so the flusher and the hook run the same version",
        )
    venv_package = os.path.dirname(found["file"])
    if os.path.realpath(venv_package) != os.path.realpath(lib_package) and _tree_digest(venv_package) != _tree_digest(
        lib_package
    ):
        return Check(
            name,
            WARN,
            f"{detail}: wazuh-ocsf {lib_version} in both, but the files of {venv_package} and {lib_package} differ",
            "re-run the installer so the flusher and the hook run the same code",
        )
    return Check(name, OK, f"{detail}, wazuh-ocsf {found['version']} (same as the hook's lib copy)")


def check_schedule(ctx: Context) -> Check:
    """A systemd timer that is enabled, or a cron file cron will read, runs ``wazuh-ocsf flush``."""
    name = "flush schedule"
    timer = os.path.join(ctx.layout.systemd_dir, TIMER)
    wanted = os.path.join(ctx.layout.systemd_dir, "timers.target.wants", TIMER)
    cron = os.path.join(ctx.layout.cron_dir, CRON_FILE)
    if os.path.isfile(timer):
        if not os.path.lexists(wanted):
            return Check(name, FAIL, f"{timer} is installed but not enabled", f"systemctl enable --now {TIMER}")
        if not os.path.isfile(os.path.join(ctx.layout.systemd_dir, SERVICE)):
            return Check(name, FAIL, f"{timer} is enabled but {SERVICE} is missing", "re-run the installer")
        return Check(name, OK, f"systemd timer {TIMER} enabled ({timer})")
    if os.path.isfile(cron):
        st = os.stat(cron)
        if st.st_uid != 0 or st.st_mode & 0o022:
            return Check(
                name,
                FAIL,
                f"{cron} is {_owner(st)}: cron ignores files not owned by root or writable by others",
                f"chown root:root {cron} && chmod 0644 {cron}",
            )
        with open(cron, encoding="utf-8", errors="replace") as handle:
            lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
        if not any("flush" in line for line in lines):
            return Check(name, FAIL, f"{cron} has no line that runs `wazuh-ocsf flush`", "re-run the installer")
        return Check(name, OK, f"cron file {cron}")
    if ctx.settings is not None and ctx.settings.scheduler == "none":
        return Check(
            name,
            OK,
            "none, as chosen (WAZUH_OCSF_SCHEDULER=none): nothing delivers the spool until you run "
            "`wazuh-ocsf flush`; `wazuh-ocsf status` shows the backlog's age",
        )
    return Check(
        name,
        FAIL,
        f"neither {timer} nor {cron} exists: nothing delivers the spool",
        "re-run the installer, or schedule `wazuh-ocsf flush` (every few minutes); if you run it yourself "
        "on purpose, set WAZUH_OCSF_SCHEDULER=none in the config file",
    )


# -- hook or follow -------------------------------------------------------------------------------

HOOK_PROBE_RUNS = 7
_PROBE_ALERT = (
    b'{"timestamp":"2024-04-22T14:20:46.976+0000","rule":{"level":5,"description":"sshd: authentication '
    b'failed.","id":"5716","firedtimes":1,"mail":false,"groups":["syslog","sshd","authentication_failed"]},'
    b'"agent":{"id":"000","name":"wazuh-server"},"manager":{"name":"wazuh-server"},"id":"1713795646.0",'
    b'"full_log":"Apr 22 14:20:46 wazuh-server sshd[1234]: Failed password for root from 203.0.113.7 port '
    b'40000 ssh2","decoder":{"parent":"sshd","name":"sshd"},"data":{"srcip":"203.0.113.7"},'
    b'"location":"/var/log/auth.log"}'
)


def time_hook(layout: Layout, identity: _Identity | None, alert: bytes, runs: int = HOOK_PROBE_RUNS) -> float:
    """Median seconds of one hook run as integratord makes it, on a throw-away spool.

    The installed integration with integratord's argv, as the manager's user, cwd the home, stdin
    ``/dev/null``; ``WAZUH_OCSF_SPOOL_DIR`` points at a temporary spool, so nothing reaches
    the real one. Raises OSError or RuntimeError (with the hook's last words) if a run fails.
    """
    import statistics
    import tempfile

    extra = _demote(identity)
    with tempfile.TemporaryDirectory(prefix="wazuh-ocsf-doctor-") as temp:
        spool = os.path.join(temp, "spool")
        os.mkdir(spool, 0o750)
        alert_file = os.path.join(temp, "probe.alert")
        with open(alert_file, "wb") as handle:
            handle.write(alert + b"\n")
        if extra:
            for path in (temp, spool, alert_file):
                os.chown(path, identity.uid, identity.group_gid)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "WAZUH_OCSF_SPOOL_DIR": spool}
        argv = [layout.integration, alert_file, "", "", "", "", "10", "3", "> /dev/null 2>&1"]
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=layout.wazuh_home, env=env,
                timeout=SUBPROCESS_TIMEOUT, check=False, **extra,
            )
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"the hook exited {done.returncode}: {_last_line(done.stderr or done.stdout)}")
    return statistics.median(times)


def check_hook_capacity(ctx: Context) -> Check:
    """Hook or follow: the manager's recent alert rate against what the hook path takes here.

    integratord runs one hook at a time, so the hook's run time on this machine is the
    ceiling. The rate is the busiest minute of the last hour in ``alerts.json`` (alerts the
    ``<integration>`` block passes); past ``WAZUH_OCSF_HOOK_SAFE_FRACTION`` of the ceiling,
    or when the gap fill found alerts integratord missed, or while integratord is behind,
    follow mode is advised with the numbers.
    """
    from wazuh_ocsf.operations import lag
    from wazuh_ocsf.readers import gap_fill
    from wazuh_ocsf.readers.alerts import LIVE_NAME, alerts_dir_of

    name = "hook or follow"
    if ctx.settings is None:
        return Check(name, SKIP, "configuration invalid")
    settings = ctx.settings
    block = lag.integration_block(ctx.layout.wazuh_home)
    mode = lag.pipeline_mode(settings, block)
    if mode == lag.FOLLOW:
        return Check(name, OK, "follow mode: alerts.json is read directly, with no per-alert ceiling")
    if mode is None:
        return Check(name, SKIP, "no custom-wazuh-ocsf block in ossec.conf and no follow state")
    path = os.path.join(alerts_dir_of(ctx.layout.wazuh_home), LIVE_NAME)
    now = time.time()
    try:
        rate = lag.alert_rate(path, now=now, alert_filter=lag.block_filter(block))
    except OSError as exc:
        return Check(name, SKIP, f"cannot read {path}: {exc.strerror or exc}")
    missed = gap_fill.missed_since(gap_fill.load(settings.spool_dir), now - gap_fill.HISTORY_SECONDS)
    behind = lag.measure(settings, now=now)
    reasons = []
    if missed:
        reasons.append(f"the gap fill found {missed} alerts integratord missed in the last day")
    if behind["behind_alerts"] and behind["behind_seconds"] > settings.lag_max_age:
        reasons.append(
            f"integratord is {behind['behind_alerts']} alerts ({behind['behind_seconds']:.0f} s) behind alerts.json"
        )
    peak = f"busiest minute {rate['peak_rate']:.1f} alerts/s"
    minutes = f"{rate['seconds'] / 60:.0f} min"
    seen = f"{peak}, mean {rate['mean_rate']:.2f}/s over the last {minutes} ({rate['alerts']} alerts for the hook)"
    if rate["alerts"] == 0 and not reasons:
        return Check(name, OK, f"hook mode; no alert for the hook in the last {minutes}")
    try:
        seconds = time_hook(ctx.layout, _identity(ctx.layout), rate["sample"] or _PROBE_ALERT)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return Check(name, WARN, f"hook mode; {seen}; cannot time the hook: {exc}", "see the `integration file` check")
    ceiling = 1 / seconds if seconds > 0 else float("inf")
    safe = settings.hook_safe_fraction * ceiling
    measured = (
        f"the hook takes {seconds * 1000:.0f} ms per alert here (median of {HOOK_PROBE_RUNS} runs): at most "
        f"{ceiling:.0f} alerts/s through integratord, {safe:.0f}/s with WAZUH_OCSF_HOOK_SAFE_FRACTION="
        f"{settings.hook_safe_fraction:g}"
    )
    if rate["peak_rate"] > safe:
        reasons.insert(0, f"the {peak} exceeds {safe:.0f}/s")
    if reasons:
        return Check(
            name,
            WARN,
            f"hook mode; {seen}; {measured}; so: " + "; ".join(reasons),
            "switch to follow mode, which reads alerts.json itself with no per-alert process: "
            "installer/install.sh --mode follow (it prints the backfill command that closes the switch's gap)",
        )
    return Check(name, OK, f"hook mode is enough: {seen}; {measured}")


# -- AWS ------------------------------------------------------------------------------------------


def _aws_error(exc: BaseException) -> tuple:
    """``(code, message)`` of a botocore error."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", "")) or str(exc)
    return type(exc).__name__, str(exc)


def _session(ctx: Context):
    import boto3

    return boto3.Session(region_name=ctx.settings.region)


def _client(ctx: Context, service: str, session):
    from botocore.config import Config

    endpoint = ctx.settings.sts_endpoint_url if service == "sts" else ctx.settings.s3_endpoint_url
    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=10, read_timeout=30)
    return session.client(service, region_name=ctx.settings.region, endpoint_url=endpoint, config=config)


def _aws_skip(ctx: Context, name: str) -> Check | None:
    if ctx.settings is None:
        return Check(name, SKIP, "configuration invalid")
    if not ctx.settings.bucket:
        return Check(name, SKIP, "no bucket configured (local output only)")
    return None


def check_credentials(ctx: Context) -> Check:
    """Credentials resolve and STS knows them (GetCallerIdentity; a denial is only a warning)."""
    name = "aws credentials"
    skipped = _aws_skip(ctx, name)
    if skipped:
        return skipped
    from botocore.exceptions import BotoCoreError, ClientError

    session = _session(ctx)
    credentials = session.get_credentials()
    if credentials is None:
        ctx.aws["credentials"] = False
        return Check(
            name,
            FAIL,
            "no AWS credentials found for the user running the flush",
            "attach an instance role, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE for it",
        )
    method = credentials.method
    try:
        arn = _client(ctx, "sts", session).get_caller_identity()["Arn"]
    except ClientError as exc:
        code, message = _aws_error(exc)
        if code in ("AccessDenied", "AccessDeniedException"):
            ctx.aws["credentials"] = True
            return Check(name, WARN, f"credentials from {method}; GetCallerIdentity denied ({message})", "")
        ctx.aws["credentials"] = False
        return Check(
            name, FAIL, f"credentials from {method} rejected: {code}: {message}", "check the key, secret and the clock"
        )
    except BotoCoreError as exc:
        ctx.aws["credentials"] = False
        return Check(name, FAIL, f"cannot reach STS: {exc}", "check the network, proxy and WAZUH_OCSF_STS_ENDPOINT_URL")
    ctx.aws["credentials"] = True
    return Check(name, OK, f"{arn} (credentials from {method})")


def check_role(ctx: Context) -> Check:
    """Each provider role can be assumed with the external id (then GetCallerIdentity as it: warning only)."""
    name = "provider role"
    skipped = _aws_skip(ctx, name)
    if skipped:
        return skipped
    roles = [role for role in ctx.settings.destination_roles() if role]
    if not roles:
        return Check(name, SKIP, "no WAZUH_OCSF_ROLE_ARN: the flusher writes with its own credentials")
    if not ctx.aws.get("credentials"):
        return Check(name, SKIP, "no working credentials to assume it with")
    checks = [_assume(ctx, role) for role in roles]
    ctx.aws["role"] = all(status != FAIL for status, _, _ in checks)
    worst = next((c for c in checks if c[0] == FAIL), None) or next((c for c in checks if c[0] == WARN), checks[0])
    return Check(name, worst[0], "; ".join(detail for _, detail, _ in checks), worst[2])


def _assume(ctx: Context, role_arn: str) -> tuple:
    """``(status, detail, fix)`` of assuming one provider role as the flusher does."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from wazuh_ocsf.sinks.s3 import _session_name

    settings = ctx.settings
    params = {"RoleArn": role_arn, "RoleSessionName": _session_name(f"doctor-{settings.node_name}")}
    if settings.external_id:
        params["ExternalId"] = settings.external_id
    try:
        creds = _client(ctx, "sts", _session(ctx)).assume_role(**params)["Credentials"]
    except ClientError as exc:
        code, message = _aws_error(exc)
        return (
            FAIL,
            f"cannot assume {role_arn}: {code}: {message}",
            "the calling identity needs sts:AssumeRole on the role, and the role's trust policy must allow it with "
            "sts:ExternalId equal to WAZUH_OCSF_EXTERNAL_ID; check both values against the custom source",
        )
    except BotoCoreError as exc:
        return FAIL, f"cannot reach STS: {exc}", "check the network and WAZUH_OCSF_STS_ENDPOINT_URL"
    role_session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=settings.region,
    )
    external = " with the external id" if settings.external_id else " (no external id)"
    try:
        arn = _client(ctx, "sts", role_session).get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        return WARN, f"assumed {role_arn}{external}; GetCallerIdentity as it failed: {exc}", ""
    return OK, f"assumed {role_arn}{external} as {arn}", ""


def _classes(settings: Settings) -> list:
    return [c for c in sorted(CLASS_NAMES) if settings.has_destination(c)]


def check_bucket(ctx: Context) -> Check:
    """The bucket answers under each source location, through the flusher's own S3 client.

    A GET of a key that does not exist, so nothing is read or written: ``NoSuchKey`` proves
    bucket and read access; ``AccessDenied`` is what a write-only provider role gets (the bucket
    answered and took the credentials; only ``--probe`` proves writing); ``NoSuchBucket``,
    rejected credentials, a wrong region or an unreachable endpoint fail.
    """
    name = "bucket"
    skipped = _aws_skip(ctx, name)
    if skipped:
        return skipped
    settings = ctx.settings
    if not ctx.aws.get("credentials") or ctx.aws.get("role") is False:
        return Check(name, SKIP, "no working credentials (see above)")
    from botocore.exceptions import BotoCoreError, ClientError

    from wazuh_ocsf.sinks.s3 import S3Sink

    hint = ""
    lake = _LAKE_BUCKET.match(settings.bucket)
    if lake and lake.group(1) != settings.region:
        hint = f"; the bucket name says region {lake.group(1)}, WAZUH_OCSF_REGION is {settings.region}"
    sink = S3Sink(settings)
    answers = []
    for class_uid in _classes(settings):
        key = settings.destination_prefix(class_uid) + PROBE_KEY_NAME
        try:
            client = sink.client_for(settings.destination_role(class_uid))  # the flusher's client for the class
            client.get_object(Bucket=settings.bucket, Key=key, Range="bytes=0-0")
            answers.append(f"{key}: readable")
            continue
        except ClientError as exc:
            code, message = _aws_error(exc)
        except BotoCoreError as exc:
            return Check(
                name,
                FAIL,
                f"cannot reach S3 for {settings.bucket}: {exc}",
                "check the network, proxy, WAZUH_OCSF_REGION and WAZUH_OCSF_S3_ENDPOINT_URL",
            )
        where = f"s3://{settings.bucket}/{key}"
        if code == "NoSuchKey":
            answers.append(f"s3://{settings.bucket}/{settings.destination_prefix(class_uid)} answers (read allowed)")
        elif code in ("AccessDenied", "403"):
            answers.append(
                f"s3://{settings.bucket}/{settings.destination_prefix(class_uid)} answers 403 to a read, as expected "
                "for a write-only provider role (only --probe proves writing)"
            )
        elif code == "NoSuchBucket":
            return Check(name, FAIL, f"{where}: {code}: {message}{hint}", "check WAZUH_OCSF_BUCKET (AWS_BUCKET)")
        elif code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"):
            fix = "set WAZUH_OCSF_REGION to the bucket's region"
            return Check(name, FAIL, f"{where}: {code}: {message}{hint}", fix)
        elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return Check(name, FAIL, f"{where}: {code}: {message}", "check the credentials and the clock")
        else:
            return Check(name, FAIL, f"{where}: {code}: {message}{hint}", "see the message; check bucket and region")
    return Check(name, WARN if hint else OK, "; ".join(answers) + hint, "check the region" if hint else "")


def check_probe(ctx: Context) -> Check:
    """With ``--probe``: a zero-row Parquet object of the real schema through every configured sink."""
    name = "probe write"
    if not ctx.probe:
        return Check(name, SKIP, "not asked (add --probe to write a zero-row Parquet object to the lake)")
    if ctx.settings is None:
        return Check(name, SKIP, "configuration invalid")
    if ctx.settings.bucket and (not ctx.aws.get("credentials") or ctx.aws.get("role") is False):
        return Check(name, SKIP, "no working credentials (see above)")
    import tempfile

    import pyarrow.parquet as pq

    from wazuh_ocsf.flush.arrow_schema import schema_for
    from wazuh_ocsf.flush.parquet_writer import object_name
    from wazuh_ocsf.sinks.base import ParquetObject, object_key
    from wazuh_ocsf.sinks.registry import build_sinks
    from wazuh_ocsf.spool.store import node_token

    settings = ctx.settings
    day = time.strftime("%Y%m%d", time.gmtime())
    written = []
    try:
        sinks = build_sinks(settings)
        with tempfile.TemporaryDirectory(prefix="wazuh-ocsf-probe-") as temp:
            objects = []
            for class_uid in _classes(settings):
                stem = f"{node_token(settings.node_name)}-doctor-probe"
                file_name = object_name(stem, class_uid, day, 0, settings.compression)
                path = Path(temp) / file_name
                compression = None if settings.compression == "none" else settings.compression
                pq.write_table(schema_for(class_uid).empty_table(), path, compression=compression)
                objects.append(ParquetObject(file_name, class_uid, day, path, 0, path.stat().st_size))
                written.append(object_key(settings, objects[-1]))
            for sink in sinks:
                sink.deliver(objects)
    except (SinkError, ConfigError) as exc:
        return Check(name, FAIL, str(exc), "see the message: the flusher would fail the same way")
    targets = ", ".join(sink.describe() for sink in sinks)
    return Check(name, OK, f"wrote {', '.join(written)} (0 rows, left in place) to {targets}")


CHECKS = (
    check_config,
    check_config_file,
    check_wazuh_version,
    check_ossec_block,
    check_integration_file,
    check_spool,
    check_output_dir,
    check_hook_interpreter,
    check_flusher_environment,
    check_schedule,
    check_hook_capacity,
    check_credentials,
    check_role,
    check_bucket,
    check_probe,
)


def run_checks(ctx: Context, checks=CHECKS) -> list:
    """Run every check in order; a check that crashes is reported as a failure, not raised."""
    results = []
    for check in checks:
        try:
            results.append(check(ctx))
        except Exception as exc:  # one broken check must not hide the others
            name = check.__name__.replace("check_", "").replace("_", " ")
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}", "report this"))
    return results


def render(results: list) -> str:
    """One line per check, the fix under each warn/fail, then a count."""
    marks = {OK: "[ ok ]", WARN: "[warn]", FAIL: "[FAIL]", SKIP: "[skip]"}
    lines = []
    for result in results:
        lines.append(f"{marks[result.status]} {result.name}: {result.detail}")
        if result.fix and result.status in (WARN, FAIL):
            lines.append(f"       fix: {result.fix}")
    failures = sum(r.status == FAIL for r in results)
    warnings = sum(r.status == WARN for r in results)
    lines.append(f"doctor: {failures} failed, {warnings} warnings, {len(results)} checks")
    return "\n".join(lines)
