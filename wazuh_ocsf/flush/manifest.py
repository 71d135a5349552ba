"""The delivery manifest of a batch of spool segments: what its Parquet objects are and who has them.

A batch is one sealed segment, or several small consecutive ones converted together (up to
the flusher's block size); the first, the *lead*, names the manifest and the objects, and
``members`` lists the others with their sizes, so a retry reads exactly the same bytes.

Written to ``<spool>/manifests/<segment>.json`` before the segment's objects are first
handed to any sink, and updated after each sink acknowledges them. A later attempt (after a
sink failure or a crash) rebuilds the Parquet files from the segment *as the manifest says*:
the same block boundaries, the same parts with the same rows in the same order, the same
compression, hence the same object names. A changed setting or library version cannot
produce new names, so a retry overwrites objects and never duplicates them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wazuh_ocsf.durable import atomic_write
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.flush.parquet_writer import PartPlan

DIRECTORY = "manifests"
FORMAT = 1


@dataclass
class ObjectEntry:
    """One planned Parquet object: its name, where its rows come from, how many."""

    name: str
    class_uid: int
    event_day: str
    part: int
    block: int  # index into Manifest.blocks
    first: int  # first row within the block's rows of this class and day, sorted by time
    rows: int

    def plan(self) -> PartPlan:
        """The part this entry describes, for the Parquet writer."""
        return PartPlan(self.class_uid, self.event_day, self.part, self.first, self.rows)


@dataclass
class Manifest:
    """Everything needed to rebuild and finish delivering one segment."""

    segment: str
    segment_size: int
    compression: str
    block_ends: list  # byte offset after each block's last line, ascending
    objects: list  # [ObjectEntry]
    dead_lettered: int = 0
    torn_tail_bytes: int = 0
    acknowledged: list = field(default_factory=list)  # sink ids that stored every object
    indexed: bool = False  # finding uids recorded in the delivered index
    created_by: str = ""
    members: list = field(default_factory=list)  # the batch's other segments: [{name, size, torn_tail_bytes}]

    def segment_names(self) -> list:
        """Every segment of the batch, the lead first."""
        return [self.segment, *(member["name"] for member in self.members)]

    @property
    def rows(self) -> int:
        """Rows in all objects."""
        return sum(entry.rows for entry in self.objects)

    def blocks(self) -> list:
        """``[(start, end)]`` byte ranges of the blocks."""
        starts = [0, *self.block_ends[:-1]]
        return list(zip(starts, self.block_ends))

    def to_json(self) -> str:
        """The manifest as JSON text (stable key order)."""
        data = asdict(self)
        data["format"] = FORMAT
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse :meth:`to_json` output. Raises ValueError when it is not a manifest."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError(f"not a format-{FORMAT} manifest")
        data["objects"] = [ObjectEntry(**entry) for entry in data["objects"]]
        return cls(**data)


def manifest_path(spool_dir: str | os.PathLike, segment_name: str) -> Path:
    """``<spool>/manifests/<segment>.json``."""
    return Path(spool_dir) / DIRECTORY / f"{segment_name}.json"


def load(spool_dir: str | os.PathLike, segment_name: str) -> Manifest | None:
    """The segment's manifest, or None if it has none yet.

    Raises SpoolError when the file exists but cannot be read as a manifest.
    """
    path = manifest_path(spool_dir, segment_name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SpoolError(f"cannot read the manifest {path}: {exc.strerror or exc}") from None
    try:
        return Manifest.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise SpoolError(
            f"the manifest {path} is damaged ({exc}); the segment is kept. Move the manifest away to "
            "deliver the segment again under freshly planned object names (objects it already "
            "delivered may then exist twice)"
        ) from None


def save(spool_dir: str | os.PathLike, manifest: Manifest) -> Path:
    """Write the manifest durably (temp file, fsync, rename, fsync of the directory)."""
    path = manifest_path(spool_dir, manifest.segment)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path, sync_dir=True) as handle:
            handle.write(manifest.to_json())
    except OSError as exc:
        raise SpoolError(f"cannot write the manifest {path}: {exc.strerror or exc}") from None
    return path


def remove(spool_dir: str | os.PathLike, segment_name: str) -> None:
    """Delete the segment's manifest (after the segment itself is released)."""
    manifest_path(spool_dir, segment_name).unlink(missing_ok=True)


def segment_names(spool_dir: str | os.PathLike) -> list:
    """Names of the segments that have a manifest."""
    directory = Path(spool_dir) / DIRECTORY
    if not directory.is_dir():
        return []
    return sorted(path.name[: -len(".json")] for path in directory.glob("*.json") if not path.name.startswith("."))
