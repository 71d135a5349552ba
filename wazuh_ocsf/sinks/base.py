"""The one small contract between the flusher and every sink.

The flusher writes Parquet objects to local files and hands them to each configured sink
with :meth:`Sink.deliver`. A sink either stores every object and returns (the objects are
acknowledged) or raises :class:`~wazuh_ocsf.errors.SinkError` naming what failed. Object
names are deterministic, so delivering the same object again overwrites it: a retry after a
failure or a crash never duplicates data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wazuh_ocsf.config import CLASS_NAMES, Settings
from wazuh_ocsf.errors import ConfigError


@dataclass(frozen=True)
class ParquetObject:
    """One finished Parquet file waiting for delivery.

    ``name`` is the object's file name, deterministic from node, segment and part;
    ``event_day`` is the UTC day (``YYYYMMDD``) of every event in it; all rows are of
    ``class_uid``.
    """

    name: str
    class_uid: int
    event_day: str
    path: Path
    rows: int
    size: int


def partition_path(*, region: str, account_id: str, event_day: str) -> str:
    """Security Lake's partition directories: ``region=…/accountId=…/eventDay=YYYYMMDD/``."""
    return f"region={region}/accountId={account_id}/eventDay={event_day}/"


def object_key(settings: Settings, obj: ParquetObject) -> str:
    """The full key of an object below the bucket (or output directory) root.

    ``<class prefix>region=<region>/accountId=<account>/eventDay=<day>/<name>``, where the
    class prefix is the custom source's location (default ``ext/<source>/``).
    Raises ConfigError when the class has no destination, or region/account are unset.
    """
    prefix = settings.destination_prefix(obj.class_uid)
    if prefix is None:
        name = f"WAZUH_OCSF_{CLASS_NAMES[obj.class_uid].upper()}_SOURCE"
        raise ConfigError(name, f"no Security Lake custom source is configured for OCSF class {obj.class_uid}")
    if not settings.region:
        raise ConfigError("WAZUH_OCSF_REGION", "required to build the region=<region> partition")
    if not settings.account_id:
        raise ConfigError("WAZUH_OCSF_ACCOUNT_ID", "required to build the accountId=<account> partition")
    return (
        prefix
        + partition_path(region=settings.region, account_id=settings.account_id, event_day=obj.event_day)
        + obj.name
    )


class Sink(ABC):
    """A destination for Parquet objects."""

    #: short name used in manifests, logs and status (``local``, ``s3``, ``http``)
    name: str = ""

    @abstractmethod
    def deliver(self, objects: Sequence[ParquetObject]) -> None:
        """Store every object, or raise SinkError naming the object, destination and reason."""

    @abstractmethod
    def describe(self) -> str:
        """Where this sink writes, for logs and status (e.g. ``s3://bucket/ext/wazuh/``)."""
