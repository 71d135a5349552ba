"""The hook: what ``wazuh-integratord`` runs once per alert. Map it, spool it, exit.

integratord runs one integration at a time and waits for it, so this is the ceiling of the
manager's integration throughput: it reads the alert file, maps it to OCSF, appends one spool
line and exits. Nothing here uploads, and nothing waits longer than ``lock_timeout``.

argv, as integratord builds it (empty strings are real arguments)::

    4.0-4.6   alert_file api_key hook_url "debug" | " > /dev/null 2>&1"
    4.7       alert_file api_key hook_url "debug" | "" options_file [" > /dev/null 2>&1"]
    4.8-4.14  alert_file api_key hook_url "debug" | "" options_file | "" timeout retries " > /dev/null 2>&1"

Exit codes (Wazuh's own numbers where they exist, ours from 10 up) are the ``ERR_*`` names
below; the README lists them. An alert that cannot be spooled for a reason of its own or of the
configuration is kept in ``<spool>/dead-letter/`` first, so nothing is lost; when the spool
directory itself is missing, in ``<home>/logs/wazuh-ocsf/dead-letter/`` (the hook's user cannot
recreate the spool inside the installer's root-owned directory, and must not create one
anywhere else behind the administrator's back). ``api_key`` and ``hook_url`` are never read,
never logged: they show in process lists.

Started as root (older managers, or by hand), the hook first becomes the owner of the spool
directory, as ``flush`` does, so that nothing it writes is root's. The alert path is opened
with ``O_NONBLOCK`` and must be a regular file: a FIFO or a device is refused (exit 6), never
waited on.

Imports stay on the cheap part of the standard library (``-X importtime`` is tested); what
only a failure or root needs is imported when it happens.
"""

from __future__ import annotations

import os
import sys
import time

OK = 0
ERR_INTERNAL = 1  # unexpected error (a bug): the log has its type and message
ERR_BAD_ARGUMENTS = 2  # Wazuh's number: no alert file argument
ERR_FILE_NOT_FOUND = 6  # Wazuh's number: the alert file cannot be read
ERR_INVALID_JSON = 7  # Wazuh's number: the alert is not a JSON object (empty, truncated, not UTF-8...)
ERR_UNMAPPABLE = 10  # valid JSON, but not a Wazuh alert the mapper can use (no rule, bad timestamp...)
ERR_CONFIG = 11  # wazuh-ocsf.conf, an environment variable or <options> is invalid
ERR_SPOOL_UNAVAILABLE = 12  # spool directory missing, not writable, disk full
ERR_SPOOL_FULL = 13  # the spool reached WAZUH_OCSF_SPOOL_MAX_BYTES and the policy is refuse
ERR_INSTALL = 14  # the installation is broken (no interpreter, package missing): hook_entry or the integration file

EXIT_CODES = {
    OK: "the alert was spooled",
    ERR_INTERNAL: "unexpected error (a bug): see integrations.log; a mapper failure keeps the alert as a dead letter",
    ERR_BAD_ARGUMENTS: "bad arguments: no alert file",
    ERR_FILE_NOT_FOUND: "the alert file does not exist or cannot be read; a dead letter records the attempt",
    ERR_INVALID_JSON: "the alert file is not a JSON object; kept in the dead-letter directory",
    ERR_UNMAPPABLE: "the alert cannot be mapped to OCSF; kept in the dead-letter directory",
    ERR_CONFIG: "configuration or <options> error; the alert is kept in the dead-letter directory",
    ERR_SPOOL_UNAVAILABLE: "the spool cannot be written (missing, not writable, disk full); dead letter if possible",
    ERR_SPOOL_FULL: "the spool is at its size cap; the alert was refused",
    ERR_INSTALL: "the installation is broken (interpreter or package missing)",
}

# argv positions (argv[0] is the script)
ALERT_INDEX = 1
API_KEY_INDEX = 2  # never read: documented so nobody logs it by accident
HOOK_URL_INDEX = 3  # never read, likewise
DEBUG_INDEX = 4
OPTIONS_INDEX = 5
TIMEOUT_INDEX = 6
RETRIES_INDEX = 7
MAX_ARGS = 8

REDIRECT = "> /dev/null 2>&1"
LOG_RELPATH = os.path.join("logs", "integrations.log")
HOME_ENV = "WAZUH_OCSF_WAZUH_HOME"
# Where an alert is kept when the spool directory (and so its dead-letter directory) is missing.
FALLBACK_RELPATH = os.path.join("logs", "wazuh-ocsf")

_FILE_TYPES = {
    0o010000: "a FIFO",
    0o020000: "a character device",
    0o040000: "a directory",
    0o060000: "a block device",
    0o140000: "a socket",
}

# <options> keys and the setting each overrides
OPTION_KEYS = ("ocsf_class", "product_version", "attack_version")


class HookFailure(Exception):
    """A failure of this run: its exit code and the one line the log gets."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Invocation:
    """What integratord asked: the alert file, debug or not, the options file (if any)."""

    __slots__ = ("alert_path", "debug", "options_path")

    def __init__(self, alert_path: str, debug: bool, options_path: str) -> None:
        self.alert_path = alert_path
        self.debug = debug
        self.options_path = options_path


def _is_redirect(arg: str) -> bool:
    return arg.strip() == REDIRECT


def parse_argv(argv: list) -> Invocation:
    """Every integratord layout → Invocation. Raises HookFailure(ERR_BAD_ARGUMENTS)."""
    if len(argv) <= ALERT_INDEX or not argv[ALERT_INDEX] or _is_redirect(argv[ALERT_INDEX]):
        raise HookFailure(ERR_BAD_ARGUMENTS, "bad arguments: expected the alert file as the first argument")
    if len(argv) > MAX_ARGS + 1:
        raise HookFailure(
            ERR_BAD_ARGUMENTS,
            f"bad arguments: {len(argv) - 1} given, integratord passes at most {MAX_ARGS} "
            "(is this wazuh-integratord of Wazuh 4.x?)",
        )
    debug = len(argv) > DEBUG_INDEX and argv[DEBUG_INDEX].strip() == "debug"
    options = ""
    if len(argv) > OPTIONS_INDEX:
        candidate = argv[OPTIONS_INDEX].strip()
        if candidate.endswith(REDIRECT):  # a layout that glued the redirect to the last argument
            candidate = candidate[: -len(REDIRECT)].strip()
        options = candidate
    return Invocation(argv[ALERT_INDEX], debug, options)


class Log:
    """``logs/integrations.log`` in Wazuh's style; stderr when the file cannot be written."""

    __slots__ = ("debug_enabled", "path")

    def __init__(self, path: str, debug_enabled: bool = False) -> None:
        self.path = path
        self.debug_enabled = debug_enabled

    def write(self, level: str, message: str, *, also_stderr: bool = False) -> None:
        text = " ".join(str(message).splitlines())
        line = f"{time.strftime('%Y %b %d %H:%M:%S')} wazuh-ocsf: {level}: {text}\n"
        data = line.encode("utf-8", "replace")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        if os.geteuid() == 0:  # root never follows a link the wazuh user may have planted in logs/
            flags |= os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, 0o660)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            also_stderr = True
        if also_stderr:
            # integratord reads our output and puts the last line in ossec.log on failure.
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self.write("DEBUG", message)


def _script_home(argv: list) -> str:
    """The Wazuh home from the script's location: ``<home>/integrations/<script>``."""
    script = argv[0] if argv and argv[0] else os.path.join(os.getcwd(), "integrations", "custom-wazuh-ocsf.py")
    return os.path.dirname(os.path.dirname(os.path.abspath(script)))


def main(argv: list) -> int:
    """Run the hook for integratord's ``argv`` (``sys.argv``); the exit code. Never raises."""
    home = os.environ.get(HOME_ENV) or _script_home(argv)
    log = Log(os.path.join(home, LOG_RELPATH))
    try:
        return _run(argv, home, log)
    except HookFailure as failure:
        log.write("ERROR", f"{failure.message} (exit {failure.code})", also_stderr=True)
        return failure.code
    except Exception as exc:  # never raise out of main: integratord only sees the exit code
        log.write("ERROR", f"unexpected {type(exc).__name__}: {exc} (exit {ERR_INTERNAL})", also_stderr=True)
        return ERR_INTERNAL


class _Context:
    """What a failure needs to keep the alert: where the spool is and this node's name."""

    __slots__ = ("data", "home", "invocation", "node", "spool_dir")

    def __init__(self, invocation: Invocation, home: str) -> None:
        self.invocation = invocation
        self.home = home
        self.data = None
        self.spool_dir = self.node = None  # known once the settings are read

    def use_raw_config(self, home: str) -> None:
        """The settings are invalid: take spool dir and node name as far as they can be found."""
        from wazuh_ocsf.config import raw_spool_location

        self.spool_dir, self.node = raw_spool_location(home)


def _keep(context: _Context, code: int, reason: str) -> HookFailure:
    """Put the alert's original bytes in the dead-letter directory; the failure to report."""
    from wazuh_ocsf.errors import SpoolError
    from wazuh_ocsf.spool import dead_letter

    def record(directory: str) -> str:
        return dead_letter.record(
            directory, reason=reason, source=context.invocation.alert_path, data=context.data or b"", node=context.node
        )

    try:
        path = record(context.spool_dir)
    except SpoolError as exc:
        if context.spool_dir and os.path.isdir(context.spool_dir):
            return HookFailure(code, f"{reason}; the alert could NOT be kept: {exc}")
        # No spool directory, so no dead-letter directory: keep the alert beside the log.
        fallback = os.path.join(context.home, FALLBACK_RELPATH)
        try:
            try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
                os.mkdir(fallback, 0o750)
            except FileExistsError:
                pass
            path = record(fallback)
        except (OSError, SpoolError) as again:
            return HookFailure(code, f"{reason}; the alert could NOT be kept: {exc}; nor in {fallback}: {again}")
        return HookFailure(
            code,
            f"{reason}; alert kept in {path} (the spool directory is missing: restore it, move this file "
            "into its dead-letter/ directory and run wazuh-ocsf dead-letter replay)",
        )
    return HookFailure(code, f"{reason}; alert kept in {path}")


def _read_options(path: str) -> dict:
    """The ``<options>`` file → setting overrides (attr → text). Raises ConfigError."""
    from wazuh_ocsf.errors import ConfigError

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError("<options>", f"cannot read the options file {path}: {exc.strerror or exc}") from None
    return parse_options(raw)


def parse_options(raw: str | bytes) -> dict:
    """The ``<options>`` JSON text → setting overrides (attr → text). Raises ConfigError.

    The one check of ``<options>``: the hook runs it on the options file integratord writes,
    ``wazuh-ocsf doctor`` on the ``<options>`` of ``ossec.conf``. Whether the chosen class has
    a destination depends on the settings: :func:`_option_class` checks that.
    """
    from wazuh_ocsf import json_codec
    from wazuh_ocsf.config import parse_class_choice
    from wazuh_ocsf.errors import ConfigError

    if not raw.strip():
        return {}
    try:
        options = json_codec.loads(raw)
    except ValueError as exc:
        example = '{"ocsf_class": "detection_finding"}'
        raise ConfigError("<options>", f"expected a JSON object, e.g. {example}: {exc}") from None
    if not isinstance(options, dict):
        raise ConfigError("<options>", "expected a JSON object, e.g. {\"ocsf_class\": \"detection_finding\"}")
    unknown = sorted(key for key in options if key not in OPTION_KEYS)
    if unknown:
        raise ConfigError(
            "<options>", f"unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(OPTION_KEYS)}"
        )
    overrides = {}
    for key, value in options.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"<options> {key}", f"expected a string, got {type(value).__name__}")
        overrides[key] = str(value)
    if "ocsf_class" in overrides:
        try:
            parse_class_choice(overrides["ocsf_class"])
        except ValueError as exc:
            raise ConfigError("<options> ocsf_class", f"{exc} (got {overrides['ocsf_class']!r})") from None
    return overrides


def _option_class(settings, value: str) -> tuple:
    """``<options>`` ``ocsf_class`` → ``(class_uid, routes)`` as :func:`_class_choice`; only a
    class with a destination may be chosen (with ``auto``: the finding class)."""
    from wazuh_ocsf.config import AUTO, class_name, parse_class_choice
    from wazuh_ocsf.errors import ConfigError

    try:
        class_uid = parse_class_choice(value)
    except ValueError as exc:
        raise ConfigError("<options> ocsf_class", f"{exc} (got {value!r})") from None
    routes = None
    if class_uid == AUTO:
        class_uid = settings.ocsf_class if settings.routing else settings.finding_class
        routes = settings.active_routes()
    if class_uid != settings.ocsf_class and not settings.has_destination(class_uid):
        name = class_name(class_uid).upper()
        raise ConfigError(
            "<options> ocsf_class",
            f"{class_name(class_uid)} has no destination: set WAZUH_OCSF_{name}_SOURCE "
            f"(or WAZUH_OCSF_{name}_LOCATION) in wazuh-ocsf.conf first",
        )
    return class_uid, routes


def _class_choice(settings) -> tuple:
    """``(class_uid, routes)``: the finding class, and with ``auto`` the active routed classes
    (None without routing)."""
    return settings.ocsf_class, (settings.active_routes() if settings.routing else None)


def read_alert(path: str) -> bytes:
    """The alert file's bytes. Raises HookFailure(ERR_FILE_NOT_FOUND) unless it is a readable regular file.

    Opened with ``O_NONBLOCK``: a FIFO (or a device) at the path is refused at once instead of
    blocking the hook, and with it every integration of the manager, forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise HookFailure(ERR_FILE_NOT_FOUND, f"alert file {path} does not exist") from None
    except OSError as exc:
        raise HookFailure(ERR_FILE_NOT_FOUND, f"cannot read alert file {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode & 0o170000
        if mode != 0o100000:
            kind = _FILE_TYPES.get(mode, "not a regular file")
            raise HookFailure(ERR_FILE_NOT_FOUND, f"alert file {path} is {kind}, not a regular file: refused")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError as exc:
        raise HookFailure(ERR_FILE_NOT_FOUND, f"cannot read alert file {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _become_spool_owner(context: _Context) -> None:
    """Started as root: become the account that controls the spool before anything is written.

    Without a spool directory, the one that controls ``<home>/logs``, where the alert is then
    kept; without either, nothing will be written, and nothing changes.
    """
    directory = context.spool_dir
    if not directory or not os.path.isdir(directory):
        directory = os.path.join(context.home, "logs")
        if not os.path.isdir(directory):
            return
    from wazuh_ocsf.errors import SpoolError
    from wazuh_ocsf.privileges import become_spool_owner  # imports logging: root only

    try:
        become_spool_owner(directory)
    except SpoolError as exc:
        # Still root: write nothing (the log opens with O_NOFOLLOW, or output goes to stderr).
        raise HookFailure(ERR_SPOOL_UNAVAILABLE, f"running as root, not spooled: {exc}") from None


def _run(argv: list, home: str, log: Log) -> int:
    invocation = parse_argv(argv)
    log.debug_enabled = invocation.debug
    context = _Context(invocation, home)
    started = time.monotonic()

    # 1. Settings: they say where the spool and the dead-letter directory are, and whose they are.
    from wazuh_ocsf.config import load_settings
    from wazuh_ocsf.errors import AlertError, ConfigError, SpoolError, SpoolFullError

    try:
        settings = load_settings(wazuh_home=home)
    except ConfigError as exc:
        settings, config_error = None, exc
        context.use_raw_config(home)
    else:
        config_error = None
        context.spool_dir, context.node = settings.spool_dir, settings.node_name

    # 2. Root becomes the spool's owner before it reads the alert or writes anything.
    if os.geteuid() == 0:
        _become_spool_owner(context)

    # 3. The alert's bytes, so that every later failure can keep them.
    try:
        context.data = read_alert(invocation.alert_path)
    except HookFailure as failure:
        unreadable = failure.message
    else:
        unreadable = None
        log.debug(f"alert file {invocation.alert_path}: {len(context.data)} bytes")
    if config_error is not None:
        raise _keep(context, ERR_CONFIG, f"configuration error: {config_error}")
    if unreadable:
        raise _keep(context, ERR_FILE_NOT_FOUND, unreadable)
    class_uid, routes = _class_choice(settings)
    product_version, attack_version = settings.product_version, settings.attack_version
    if invocation.options_path:
        try:
            options = _read_options(invocation.options_path)
            if "ocsf_class" in options:
                class_uid, routes = _option_class(settings, options["ocsf_class"])
        except ConfigError as exc:
            raise _keep(context, ERR_CONFIG, f"configuration error: {exc}") from None
        log.debug(f"options file {invocation.options_path}: keys {sorted(options)}")
        product_version = options.get("product_version", product_version)
        attack_version = options.get("attack_version", attack_version)
    log.debug(
        f"settings from {settings.config_path}: spool {settings.spool_dir}, node {settings.node_name}, "
        f"class {class_uid}{' (auto)' if routes is not None else ''}, fsync {settings.fsync}"
    )

    # 3. Map.
    from wazuh_ocsf.mapping import load_alert, map_alert
    from wazuh_ocsf.spool.line import encode_event

    try:
        alert = load_alert(context.data)
    except AlertError as exc:
        reason = f"alert file {invocation.alert_path} is not a JSON alert: {exc}"
        raise _keep(context, ERR_INVALID_JSON, reason) from None
    name = _alert_name(alert, invocation.alert_path)
    if routes:  # auto: the class that fits the alert, among those with a destination
        from wazuh_ocsf.mapping.routing import route

        class_uid = route(alert, class_uid, routes)
    try:
        event = map_alert(alert, class_uid=class_uid, product_version=product_version, attack_version=attack_version)
        line = encode_event(event)
    except AlertError as exc:
        raise _keep(context, ERR_UNMAPPABLE, f"{name} cannot be mapped: {exc}") from None
    except Exception as exc:  # a mapper bug must not lose the alert
        reason = f"{name}: unexpected {type(exc).__name__} while mapping: {exc}"
        raise _keep(context, ERR_INTERNAL, reason) from None

    # 4. Spool.
    from wazuh_ocsf.spool.store import Spool

    try:
        segment = Spool(settings).append(line)
    except SpoolFullError as exc:
        raise HookFailure(ERR_SPOOL_FULL, f"{name} refused: {exc}") from None
    except SpoolError as exc:
        raise _keep(context, ERR_SPOOL_UNAVAILABLE, f"{name} not spooled: {exc}") from None
    log.debug(
        f"{name} spooled as class {class_uid} to {segment}: {len(line)} bytes in "
        f"{(time.monotonic() - started) * 1000:.1f} ms"
    )
    return OK


def _alert_name(alert, path: str) -> str:
    """``alert <id> of <timestamp>`` for the log, or the file when the alert has no id."""
    if isinstance(alert, dict) and isinstance(alert.get("id"), str):
        return f"alert {alert['id']} of {alert.get('timestamp')}"
    return f"alert in {path}"
