"""The installer's exceptions. Only :func:`wazuh_ocsf_installer.cli.main` turns them into messages."""

from __future__ import annotations


class InstallError(Exception):
    """The installer cannot go on. The message says what failed, where, and what to do."""


class UsageError(InstallError):
    """A command-line option has a value the installer refuses."""


class UnsupportedTargetError(InstallError):
    """The target is not a Wazuh 4.x manager (5.x, an agent, nothing at all)."""


class OssecConfError(InstallError):
    """``ossec.conf`` cannot be read, understood or safely changed."""
