"""Change settings in the ``KEY=VALUE`` config file in place, keeping everything else.

Comments, blank lines, the order of lines, the file's owner and mode all stay; a setting
already written under its seed-guide name (``ROLE_ARN=``) is updated on that line. The new
text is written under a temporary name in the same directory, then renamed over the file.
"""

from __future__ import annotations

import errno
import os
import stat

from wazuh_ocsf.config import SETTINGS_BY_ATTR
from wazuh_ocsf.durable import atomic_write
from wazuh_ocsf.errors import ConfigError


def _key_of(line: str) -> str | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("export "):
        text = text[7:].lstrip()
    key, sep, _ = text.partition("=")
    return key.strip() if sep else None


def _read_lines(path: str) -> tuple:
    """The file's lines and ``fstat``: never through a symlink, and only a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read().decode("utf-8").splitlines(keepends=True), st


def update_settings(path: str, values: dict) -> list:
    """Set each setting (attr → text) in the file at ``path``; the ``KEY=VALUE`` lines written.

    The line that defines the setting (``WAZUH_OCSF_<NAME>`` or its seed-guide alias) is
    replaced where it stands; a setting not in the file is appended. Raises ConfigError when
    the file cannot be read or replaced.
    """
    try:
        lines, st = _read_lines(path)
    except FileNotFoundError:
        lines, st = [], None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the config file: {getattr(exc, 'strerror', None) or exc}") from None
    written = []
    for attr, value in values.items():
        setting = SETTINGS_BY_ATTR[attr]
        text = str(value)
        if any(c in text for c in "\n\r\"'#") or text != text.strip():
            raise ConfigError(setting.env, f"refusing to write {text!r}: it would not read back the same")
        names = [n for n in (setting.env, setting.alias) if n]
        entry = f"{setting.env}={text}\n"
        indexes = [i for i, line in enumerate(lines) if _key_of(line) in names]
        for index in indexes:
            key = _key_of(lines[index])
            export = "export " if lines[index].lstrip().startswith("export ") else ""
            lines[index] = f"{export}{key}={text}\n"
        if not indexes:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append(entry)
        written.append(entry.strip())
    try:
        with atomic_write(path, mode=0o640 if st is None else st.st_mode & 0o7777) as handle:
            handle.write("".join(lines))
            if st is not None:
                os.fchmod(handle.fileno(), st.st_mode & 0o7777)
                if os.geteuid() == 0 and st.st_nlink == 1:  # never copy the owner of a file linked elsewhere
                    os.fchown(handle.fileno(), st.st_uid, st.st_gid)
    except OSError as exc:
        raise ConfigError(path, f"cannot write the config file: {exc.strerror or exc}") from None
    return written
