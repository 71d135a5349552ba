"""What is installed where: the target filesystem, the Wazuh manager, its version and its Python."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess

from wazuh_ocsf_installer.errors import UnsupportedTargetError

DEFAULT_HOME = "/var/ossec"
EMBEDDED_PYTHON = "framework/python/bin/python3"
WAZUH_5_MESSAGE = "Wazuh 5.x removed wazuh-integratord and alerts.json; wazuh-ocsf targets Wazuh 4.x managers"
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


class Target:
    """The filesystem the installer works on: ``root`` (``/`` normally) and the Wazuh ``home``.

    Paths the manager will see (in ossec.conf, units, config) are *logical* (``/var/ossec/…``);
    :meth:`path` gives where they are on this machine (``<root>/var/ossec/…``).
    """

    def __init__(self, root: str, home: str) -> None:
        if not os.path.isabs(home):
            raise UnsupportedTargetError(f"--home must be an absolute path, got {home!r}")
        self.root = os.path.abspath(root) if root else "/"
        self.home = os.path.normpath(home)
        self.is_fake_root = self.root != "/"

    def path(self, logical: str) -> str:
        """Where the logical path ``logical`` is on this machine."""
        return os.path.join(self.root, logical.lstrip("/")) if self.is_fake_root else logical

    def home_path(self, *parts: str) -> str:
        """The logical path ``<home>/<parts…>``."""
        return os.path.join(self.home, *parts)


class Manager:
    """A Wazuh manager found at a target: its version and embedded interpreter."""

    def __init__(self, version: str | None, integratord: str, embedded_python: str | None) -> None:
        self.version = version
        self.integratord = integratord
        self.embedded_python = embedded_python

    def describe(self) -> str:
        return f"Wazuh manager {self.version or '(version unknown)'}"


def read_version(target: Target) -> str | None:
    """The manager's version from ``VERSION.json`` (4.8+), ``VERSION`` or ``/etc/ossec-init.conf`` (≤ 4.1)."""
    try:
        with open(target.path(target.home_path("VERSION.json")), encoding="utf-8") as handle:
            version = json.load(handle).get("version")
        if version:
            return str(version).lstrip("v")
    except (OSError, ValueError, AttributeError):
        pass
    for path, pattern in (
        (target.home_path("VERSION"), r"(v?\d+\.\d+(?:\.\d+)?)"),
        ("/etc/ossec-init.conf", r'VERSION="?(v?\d+\.\d+(?:\.\d+)?)'),
    ):
        try:
            with open(target.path(path), encoding="utf-8", errors="replace") as handle:
                match = re.search(pattern, handle.read())
        except OSError:
            continue
        if match:
            return match.group(1).lstrip("v")
    return None


@functools.cache
def python_version(python: str) -> tuple | None:
    """``(major, minor, micro)`` of an interpreter, or None if it does not run.

    Each interpreter is run once per installer run: planning asks about the same one several times.
    """
    try:
        result = subprocess.run(
            [python, "-I", "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    try:
        return tuple(int(part) for part in result.stdout.split())
    except ValueError:
        return None


def detect_manager(target: Target, *, uninstalling: bool = False) -> Manager:
    """The Wazuh 4.x manager at ``target``; raise UnsupportedTargetError for anything else.

    Uninstalling only needs the home to exist: a manager upgraded to 5.x must still be cleanable.
    """
    home = target.path(target.home)
    if not os.path.isdir(home):
        raise UnsupportedTargetError(f"no Wazuh installation at {home}: pass --home (and --root) to point at it")
    version = read_version(target)
    bin_dir = os.path.join(home, "bin")
    integratord = next(
        (name for name in ("wazuh-integratord", "ossec-integratord") if os.path.exists(os.path.join(bin_dir, name))), ""
    )
    embedded = target.path(target.home_path(EMBEDDED_PYTHON))
    manager = Manager(version, integratord, embedded if os.path.exists(embedded) else None)
    if uninstalling:
        return manager
    match = _VERSION_RE.match(version or "")
    if match and int(match.group(1)) >= 5:
        raise UnsupportedTargetError(f"{home} is Wazuh {version}: {WAZUH_5_MESSAGE}")
    if match and int(match.group(1)) < 4:
        raise UnsupportedTargetError(f"{home} is Wazuh {version}: wazuh-ocsf targets Wazuh 4.x managers; upgrade first")
    if not integratord:
        if os.path.exists(os.path.join(bin_dir, "wazuh-agentd")) or os.path.exists(
            os.path.join(bin_dir, "ossec-agentd")
        ):
            raise UnsupportedTargetError(
                f"{home} is a Wazuh agent, not a manager:"
                " install wazuh-ocsf on the manager (on every node of a cluster)"
            )
        raise UnsupportedTargetError(
            f"{home} has no bin/wazuh-integratord: not a Wazuh 4.x manager (integratord runs wazuh-ocsf's integration)"
        )
    if not os.path.isfile(os.path.join(home, "etc", "ossec.conf")):
        raise UnsupportedTargetError(f"{home}/etc/ossec.conf is missing: not a configured Wazuh manager")
    return manager


def default_account(version: str | None) -> str:
    """The Wazuh account's name: ``ossec`` up to 4.2 (4.3 renamed it), else ``wazuh``."""
    match = _VERSION_RE.match(version or "")
    return "ossec" if match and (int(match.group(1)), int(match.group(2))) < (4, 3) else "wazuh"


def has_systemd(target: Target) -> bool:
    """Whether the target runs systemd: booted with it, or (under --root) has a systemd unit directory."""
    if target.is_fake_root:
        return os.path.isdir(target.path("/etc/systemd/system"))
    return os.path.isdir("/run/systemd/system")
