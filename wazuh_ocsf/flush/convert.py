"""Spool lines → Arrow tables of the explicit OCSF schema, one table per OCSF class.

The fast path hands a whole block of spool lines to pyarrow's JSON reader with the class's
explicit read schema (never an inferred one) and ``unexpected_field_behavior="error"``, so
an unknown field, a wrong type or an out-of-range integer fails instead of silently growing
or losing a column. The reader cannot build ``map`` columns: ``unmapped`` is read as the
spool line stores it (two lists of keys and values, or the earlier format's
``list<struct<key, value>>``) and rebuilt as ``map<string, string>``, and the attributes a
lean line leaves out are put back, all by :func:`wazuh_ocsf.flush.arrow_schema.from_spool_table`
without a Python loop per event.

A block that fails is split in halves, recursively, until each failing piece is one line:
every good line still converts at full speed and exactly the bad lines come back as
:class:`BadLine` (line number and reason) for the dead-letter directory.

Which class a line belongs to is found without parsing: the encoder writes compact JSON, so
``"class_uid":2001`` followed by ``,`` or ``}`` is in the line exactly when it is a Security
Finding. When every line of a block matches one class (the usual case) the block is read in
one call; otherwise lines are sorted into classes first. The class read back is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from wazuh_ocsf.config import CLASS_NAMES
from wazuh_ocsf.errors import ConversionError
from wazuh_ocsf.flush.arrow_schema import from_spool_table, spool_read_schema
from wazuh_ocsf.mapping.timestamps import MAX_TIME_MS

#: Bytes the JSON reader parses per task: far above any spool line (alerts ≤ 64 KiB).
PARSE_BLOCK_BYTES = 4 * 1024 * 1024

_CLASS_PATTERNS = {
    class_uid: (f'"class_uid":{class_uid},'.encode(), f'"class_uid":{class_uid}}}'.encode())
    for class_uid in CLASS_NAMES
}
_READ_ERRORS = (pa.ArrowException, ConversionError)

#: Arrow memory for conversion and sorting. The default pool (mimalloc) returns freed
#: memory to the system between blocks, so each block of a flush faulted in (and the
#: kernel zeroed) fresh huge pages again: measured ≈ 3–4 µs of system time per event.
#: The C library's allocator keeps and reuses it.
MEMORY_POOL = pa.system_memory_pool()


@dataclass(frozen=True)
class BadLine:
    """A spool line that cannot become a row: its 1-based line number, bytes and why."""

    number: int
    data: bytes
    reason: str


@dataclass
class Converted:
    """The result of converting a block: a table per class (rows in line order) and the bad lines."""

    tables: dict = field(default_factory=dict)  # class_uid → pa.Table with schema_for(class_uid)
    bad: list = field(default_factory=list)  # [BadLine], in line order

    @property
    def rows(self) -> int:
        """Rows converted, all classes."""
        return sum(table.num_rows for table in self.tables.values())


def class_of_line(line: bytes) -> int | None:
    """The class_uid a spool line declares (found by a byte search), or None."""
    for class_uid, (before_comma, before_brace) in _CLASS_PATTERNS.items():
        if before_comma in line or before_brace in line:
            return class_uid
    return None


def convert_block(data: bytes, *, first_line: int = 1) -> Converted:
    """Convert complete spool lines (``data`` ends with ``\\n`` or is empty).

    ``first_line`` is the line number of the block's first line in its segment, so bad
    lines are reported with their number in the segment. Blank lines are skipped. The rows
    of each table are in line order.
    """
    if not data:
        return Converted()
    # Fast path: the whole block as the class of its first line. If every row reads and is
    # of that class, the block is done, whatever the other lines look like as bytes.
    class_uid = class_of_line(data[: data.find(b"\n") + 1])
    if class_uid is not None:
        try:
            return Converted({class_uid: read_lines(data, class_uid)})
        except _READ_ERRORS:
            pass
    return _convert_line_by_line(data, first_line)


def _convert_line_by_line(data: bytes, first_line: int) -> Converted:
    buckets: dict = {}  # class_uid → ([line bytes], [line numbers])
    bad = []
    for number, line in enumerate(data.split(b"\n")[:-1], first_line):
        if not line.strip():
            continue
        class_uid = class_of_line(line)
        if class_uid is None:
            known = " or ".join(str(uid) for uid in CLASS_NAMES)
            bad.append(BadLine(number, line + b"\n", f"no class_uid {known}: not an OCSF event of a supported class"))
            continue
        lines, numbers = buckets.setdefault(class_uid, ([], []))
        lines.append(line + b"\n")
        numbers.append(number)
    result = Converted()
    for class_uid, (lines, numbers) in buckets.items():
        tables = _read_bisecting(lines, numbers, class_uid, bad)
        if tables:
            result.tables[class_uid] = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    bad.sort(key=lambda line: line.number)
    result.bad = bad
    return result


def _read_bisecting(lines: list, numbers: list, class_uid: int, bad: list) -> list:
    try:
        return [read_lines(b"".join(lines), class_uid)]
    except _READ_ERRORS as exc:
        if len(lines) == 1:
            bad.append(BadLine(numbers[0], lines[0], _reason(exc)))
            return []
    middle = len(lines) // 2
    return _read_bisecting(lines[:middle], numbers[:middle], class_uid, bad) + _read_bisecting(
        lines[middle:], numbers[middle:], class_uid, bad
    )


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(" in row 0", "")


def read_lines(data: bytes, class_uid: int) -> pa.Table:
    """Read spool lines of one class into a table with exactly ``schema_for(class_uid)``.

    Raises pyarrow.ArrowInvalid when a line does not fit the schema and ConversionError when
    a row is not of ``class_uid``, has no ``time`` or one outside years 1970–9999.
    """
    parse_options = pj.ParseOptions(
        explicit_schema=spool_read_schema(class_uid), unexpected_field_behavior="error", newlines_in_values=False
    )
    # Blocks of PARSE_BLOCK_BYTES are parsed in parallel where pyarrow has threads; a line
    # longer than a block cannot be, so such input is read again as one block.
    block_size = PARSE_BLOCK_BYTES if len(data) > PARSE_BLOCK_BYTES else len(data) + 1
    try:
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=block_size),
            parse_options=parse_options,
            memory_pool=MEMORY_POOL,
        )
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc) or block_size > len(data):
            raise
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=len(data) + 1),
            parse_options=parse_options,
            memory_pool=MEMORY_POOL,
        )
    result = from_spool_table(table, class_uid, memory_pool=MEMORY_POOL)
    _check_rows(result, class_uid)
    return result


def _check_rows(table: pa.Table, class_uid: int) -> None:
    if not table.num_rows:
        return
    classes = table.column("class_uid")
    if classes.null_count or not pc.all(pc.equal(classes, class_uid)).as_py():
        raise ConversionError(f"class_uid is not {class_uid}")
    times = table.column("time")
    if times.null_count:
        raise ConversionError("time is missing")
    bounds = pc.min_max(times).as_py()
    if bounds["min"] < 0 or bounds["max"] >= MAX_TIME_MS:
        raise ConversionError(
            f"time is outside 1970-01-01..9999-12-31 (epoch milliseconds {bounds['min']}..{bounds['max']})"
        )
