"""The one exception tree of wazuh-ocsf.

Library code raises these; only the hook's ``main(argv)`` and the CLI's ``main(argv)``
turn them into exit codes and messages. Every message says what failed and, where it
helps, what to do about it. This module is imported by the hook: standard library only.
"""

from __future__ import annotations


class WazuhOcsfError(Exception):
    """Base class of every error wazuh-ocsf raises on purpose."""


class ConfigError(WazuhOcsfError, ValueError):
    """A setting is missing or invalid. The message names the setting and what was expected."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class AlertError(WazuhOcsfError, ValueError):
    """An alert cannot be mapped at all (not a JSON object, no ``rule``, bad ``timestamp``)."""


class SpoolError(WazuhOcsfError, OSError):
    """The spool cannot be written or read (missing, not writable, disk full, corrupt)."""


class SpoolFullError(SpoolError):
    """The spool reached its size cap and the policy is to refuse new events."""


class SpoolBusyError(SpoolError):
    """Another process holds a lock that this operation needs (e.g. a second flusher)."""


class ConversionError(WazuhOcsfError, ValueError):
    """Spool lines could not be converted to the OCSF Arrow schema."""


class SinkError(WazuhOcsfError):
    """A sink failed to store objects. The message names the destination, key and reason."""
