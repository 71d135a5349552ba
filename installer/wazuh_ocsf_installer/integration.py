"""The installed integration: ``integrations/custom-wazuh-ocsf`` with its interpreter in the shebang.

wazuh-integratord ``execvp``s the integration's path directly (no shell). Installed with
``#!<python> -IS`` as its first line (the manager's own Python, else the venv's), the kernel starts
that interpreter on it with ``-I -S`` (Linux passes everything after the interpreter as one
argument, and Python reads ``-IS`` as ``-I -S``): no ``sh`` wrapper started per alert. Earlier
installs had a ``sh`` wrapper there, beside the ``custom-wazuh-ocsf.py`` it ran; an upgrade
replaces the wrapper and removes that ``.py`` (:data:`LEGACY_SUFFIX`).
"""

from __future__ import annotations

from wazuh_ocsf_installer.errors import InstallError

#: The ``.py`` file the old ``sh`` wrapper ran, beside the integration: removed on upgrade.
LEGACY_SUFFIX = ".py"
#: Linux reads at most 127 bytes of a ``#!`` line before 5.1 (256 since): stay within the older limit.
MAX_SHEBANG = 127


def shebang(python: str) -> bytes:
    """``#!<python> -IS`` for the interpreter's logical path. Raises InstallError if the kernel could not run it."""
    line = f"#!{python} -IS"
    if any(c.isspace() for c in python) or not python.startswith("/"):
        raise InstallError(
            f"cannot install the integration: its interpreter {python!r} must be an absolute path without blanks"
            " (the kernel splits a #! line at the first blank)"
        )
    if len(line.encode()) > MAX_SHEBANG:
        raise InstallError(
            f"cannot install the integration: '{line}' is longer than the {MAX_SHEBANG} bytes the kernel reads"
            " of a #! line"
        )
    return line.encode() + b"\n"


def render(source: bytes, python: str) -> bytes:
    """The installed integration: ``source`` (the repository's file) with its ``#!`` line for ``python``."""
    first, newline, rest = source.partition(b"\n")
    if not first.startswith(b"#!") or not newline:
        raise InstallError(
            "integrations/custom-wazuh-ocsf has no #! line: run the installer from a complete source tree"
        )
    return shebang(python) + rest
