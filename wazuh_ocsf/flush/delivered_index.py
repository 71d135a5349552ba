"""The delivered index: which finding uids reached every sink, per UTC ``eventDay``.

Layout: ``<spool>/delivered/<YYYYMMDD>/<segment>.parquet``, one small Parquet file per
delivered segment and day with one sorted, zstd-compressed ``uid`` column. Append-only:
recording a segment again (after a crash between delivery and release) rewrites the same
file with the same content, so the index never double counts. A uid is the OCSF event's
``finding.uid`` (Security Finding), ``finding_info.uid`` (the other finding classes) or
``metadata.uid`` (the activity classes, which carry the same ``<node>:<id>:<epoch ms>`` there).

The backfill reads it to never send an event twice: :meth:`DeliveredIndex.is_delivered`
for one uid, :meth:`DeliveredIndex.delivered_mask` for many at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wazuh_ocsf.durable import atomic_write
from wazuh_ocsf.errors import SpoolError

DIRECTORY = "delivered"
#: class_uid → where its events hold the finding uid (the activity classes: metadata.uid).
UID_PATHS = {
    2001: ("finding", "uid"),
    2002: ("finding_info", "uid"),
    2003: ("finding_info", "uid"),
    2004: ("finding_info", "uid"),
    1001: ("metadata", "uid"),
    3002: ("metadata", "uid"),
}
_SCHEMA = pa.schema([pa.field("uid", pa.string(), nullable=False)])


def finding_uids(table: pa.Table, class_uid: int) -> pa.Array:
    """The non-null finding uids of a table of OCSF events of ``class_uid``."""
    parent, child = UID_PATHS[class_uid]
    column = table.column(parent)
    uids = pc.struct_field(column, child) if column.num_chunks else pa.array([], pa.string())
    uids = uids.combine_chunks() if isinstance(uids, pa.ChunkedArray) else uids
    return uids.drop_null().cast(pa.string())


class DeliveredIndex:
    """Read and append the per-day delivered index under a spool directory."""

    def __init__(self, spool_dir: str | os.PathLike) -> None:
        self.root = Path(spool_dir) / DIRECTORY
        self._cache: dict = {}  # eventDay → pa.Array of uids (sorted, unique)
        self._sets: dict = {}  # eventDay → set of uids, built on the first is_delivered()

    def record(self, segment_name: str, uids_by_day: dict) -> None:
        """Record the uids (``eventDay`` → array or list of str) of one delivered segment."""
        for day, uids in uids_by_day.items():
            array = pa.array(uids, pa.string()) if not isinstance(uids, (pa.Array, pa.ChunkedArray)) else uids
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            array = pc.unique(array.drop_null())
            array = array.take(pc.sort_indices(array))
            directory = self.root / day
            path = directory / f"{segment_name}.parquet"
            try:
                directory.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, binary=True) as handle:
                    pq.write_table(pa.table([array], schema=_SCHEMA), handle, compression="zstd")
            except OSError as exc:
                raise SpoolError(f"cannot record delivered uids in {path}: {exc.strerror or exc}") from None
            self._cache.pop(day, None)
            self._sets.pop(day, None)

    def days(self) -> list:
        """Every ``eventDay`` with recorded uids, ascending."""
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir() and entry.name.isdigit())

    def uids(self, event_day: str) -> pa.Array:
        """All uids delivered for ``event_day`` (sorted, unique; empty if none)."""
        cached = self._cache.get(event_day)
        if cached is not None:
            return cached
        directory = self.root / event_day
        files = sorted(str(path) for path in directory.glob("*.parquet")) if directory.is_dir() else []
        if files:
            arrays = [pq.read_table(path, schema=_SCHEMA).column("uid").combine_chunks() for path in files]
            array = pc.unique(pa.concat_arrays(arrays))
            array = array.take(pc.sort_indices(array))
        else:
            array = pa.array([], pa.string())
        self._cache[event_day] = array
        return array

    def is_delivered(self, uid: str, event_day: str) -> bool:
        """Whether the event with this finding uid and day was delivered."""
        members = self._sets.get(event_day)
        if members is None:
            members = self._sets[event_day] = set(self.uids(event_day).to_pylist())
        return uid in members

    def delivered_mask(self, uids, event_day: str) -> pa.BooleanArray:
        """For many uids of one day at once: True where already delivered."""
        array = uids if isinstance(uids, (pa.Array, pa.ChunkedArray)) else pa.array(uids, pa.string())
        return pc.is_in(array, value_set=self.uids(event_day))
