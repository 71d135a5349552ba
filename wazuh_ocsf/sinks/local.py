"""The local sink: Security Lake's partition tree in a directory.

``<output dir>/<object key>``, i.e. ``ext/<source>/region=…/accountId=…/eventDay=YYYYMMDD/<name>``,
for air-gapped sites, dry runs and inspection (the tree opens as one Hive-partitioned dataset
in pyarrow, DuckDB, Spark or Athena). Each object is copied under a temporary dot-name in its
final directory, forced to disk and renamed into place, so a reader never sees half an
object and delivering the same object again replaces it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from wazuh_ocsf.config import Settings
from wazuh_ocsf.durable import atomic_write, fsync_path
from wazuh_ocsf.errors import SinkError
from wazuh_ocsf.privileges import permission_hint
from wazuh_ocsf.sinks.base import ParquetObject, Sink, object_key


class LocalSink(Sink):
    """Write objects below ``output_dir`` at their Security Lake keys."""

    name = "local"

    def __init__(self, settings: Settings, output_dir: str | os.PathLike) -> None:
        self.settings = settings
        self.root = Path(os.path.abspath(output_dir))

    def describe(self) -> str:
        """``local:<absolute output directory>``."""
        return f"local:{self.root}"

    def deliver(self, objects: Sequence[ParquetObject]) -> None:
        """Copy every object to its key below the output directory, or raise SinkError."""
        keys = [object_key(self.settings, obj) for obj in objects]  # ConfigError before any write
        directories = set()
        for obj, key in zip(objects, keys):
            destination = self.root / key
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                with open(obj.path, "rb") as source, atomic_write(destination, binary=True) as handle:
                    shutil.copyfileobj(source, handle)
            except OSError as exc:
                hint = permission_hint(exc, self.root)
                raise SinkError(f"Failed to write {obj.name} to {destination}: {exc.strerror or exc}{hint}") from None
            directories.add(destination.parent)
        for directory in directories:
            try:
                fsync_path(directory)
            except OSError as exc:
                raise SinkError(f"Failed to make the writes in {directory} durable: {exc.strerror or exc}") from None
