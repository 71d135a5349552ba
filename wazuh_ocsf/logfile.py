"""The CLI's log file: ``<wazuh home>/logs/wazuh-ocsf.log``, rotated, never holding a secret.

Only the command-line entry path calls :func:`configure` (library modules log through
``logging.getLogger(__name__)`` and never configure handlers). Lines follow Wazuh's own
``ossec.log`` layout, so the same eyes and tools read both::

    2024/04/22 14:25:00 wazuh-ocsf-flush[4242]: INFO: flushed 2 segments: 1200 events in 3 objects ...

wazuh-ocsf's own modules log from INFO up, third-party libraries (botocore, s3transfer) from
WARNING up. Every record is one line (a traceback shrinks to its exception) and passes through
:func:`wazuh_ocsf.redact.redact` first.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

LOG_RELPATH = os.path.join("logs", "wazuh-ocsf.log")
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5
DATE_FORMAT = "%Y/%m/%d %H:%M:%S"


class RedactingFormatter(logging.Formatter):
    """A formatter that masks every known secret in the finished line (tracebacks included)."""

    def __init__(self, fmt: str, secrets: list) -> None:
        super().__init__(fmt, DATE_FORMAT)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        from wazuh_ocsf.redact import redact

        # One record, one line: a library's traceback shrinks to its exception's last line.
        return redact(" ".join(super().format(record).splitlines()), self.secrets)

    def formatException(self, ei) -> str:
        import traceback

        return "(" + " ".join("".join(traceback.format_exception_only(ei[0], ei[1])).split()) + ")"


def log_path(settings) -> str:
    """``<wazuh home>/logs/wazuh-ocsf.log``."""
    return os.path.join(settings.wazuh_home, LOG_RELPATH)


def configure(settings, command: str, *, stderr_level: int = logging.WARNING) -> str | None:
    """Send log records to the rotating log file (and WARNING+ to stderr); the file's path.

    When the file cannot be opened (no ``logs/`` directory, no permission) the records go to
    stderr only, one note says why, and None is returned: a log problem never stops a flush.
    """
    from wazuh_ocsf.redact import secrets_of

    secrets = secrets_of(settings)
    line = f"%(asctime)s wazuh-ocsf-{command}[%(process)d]: %(levelname)s: %(message)s"
    formatter = RedactingFormatter(line, secrets)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    logging.getLogger("wazuh_ocsf").setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_wazuh_ocsf", False):
            root.removeHandler(handler)
            handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(stderr_level)
    console.setFormatter(RedactingFormatter("wazuh-ocsf: %(levelname)s: %(message)s", secrets))
    console._wazuh_ocsf = True
    path = log_path(settings)
    try:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
    except OSError as exc:
        root.addHandler(console)
        note = f"cannot write the log file {path}: {exc.strerror or exc}; logging to stderr only"
        print(f"wazuh-ocsf: note: {note}", file=sys.stderr)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(formatter)
    handler._wazuh_ocsf = True
    root.addHandler(handler)
    root.addHandler(console)
    return path
