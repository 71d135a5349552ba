"""Our Arrow schema as a Glue table sees it, and whether a Glue table can read our Parquet.

Security Lake's Glue crawler infers the custom source's table from the Parquet objects: each
Parquet type becomes a Hive type (int32 → ``int``, int64 → ``bigint``, string → ``string``,
bool → ``boolean``, struct → ``struct<name:type,…>``, list → ``array<…>``, map →
``map<k,v>``), names in lower case, and the partition directories become ``string``
partition keys. :func:`glue_type` is that mapping; :func:`glue_columns` the whole table.

:func:`compare` says what a table (the crawler's, or one edited by hand, or one inferred
from other files under the same prefix) does to our columns. Athena reads Parquet by column
name, so a column or struct field the table lacks is invisible (its data never returned),
and a differing type fails the query (``HIVE_BAD_DATA``) or returns nulls. Columns and fields
only the table has are harmless (null in our rows) and not reported. ``int`` data in a
``bigint`` column is a widening Athena accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: The partition keys Security Lake's layout gives every custom source table.
PARTITION_KEYS = ("region", "accountid", "eventday")

_PRIMITIVES = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.string(): "string",
    pa.large_string(): "string",
    pa.binary(): "binary",
}
#: (ours, the table's): readable although the names differ.
_WIDENINGS = {("tinyint", "smallint"), ("tinyint", "int"), ("smallint", "int"), ("int", "bigint"),
              ("tinyint", "bigint"), ("smallint", "bigint"), ("float", "double")}


def glue_type(arrow_type: pa.DataType) -> str:
    """The Hive type the Glue crawler infers for a Parquet column of ``arrow_type``."""
    if pa.types.is_struct(arrow_type):
        fields = ",".join(f"{f.name.lower()}:{glue_type(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    if pa.types.is_map(arrow_type):
        return f"map<{glue_type(arrow_type.key_type)},{glue_type(arrow_type.item_type)}>"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    try:
        return _PRIMITIVES[arrow_type]
    except KeyError:
        raise ValueError(f"no Glue type for Arrow type {arrow_type}") from None


def glue_columns(schema: pa.Schema) -> list:
    """``[{"Name", "Type"}]`` of a table the crawler would infer from Parquet of ``schema``."""
    return [{"Name": field.name.lower(), "Type": glue_type(field.type)} for field in schema]


def partition_keys() -> list:
    """``[{"Name", "Type"}]`` of the partition keys of a custom source's table."""
    return [{"Name": name, "Type": "string"} for name in PARTITION_KEYS]


# -- parsing Hive type strings -------------------------------------------------------------------


@dataclass(frozen=True)
class HiveType:
    """A parsed Hive type: ``kind`` is struct, array, map or the primitive's name."""

    kind: str
    children: tuple = ()  # struct: ((name, HiveType), …); array: (item,); map: (key, value)

    def __str__(self) -> str:
        if self.kind == "struct":
            return "struct<" + ",".join(f"{name}:{child}" for name, child in self.children) + ">"
        if self.kind in ("array", "map"):
            return f"{self.kind}<" + ",".join(str(child) for child in self.children) + ">"
        return self.kind


def parse_hive_type(text: str) -> HiveType:
    """Parse a Glue column type (``struct<a:int,b:array<string>>``, ``decimal(10,2)``, …).

    Raises ValueError for text that is not a Hive type.
    """
    parsed, end = _parse(text.replace(" ", "").lower(), 0)
    if end != len(text.replace(" ", "")):
        raise ValueError(f"unexpected text after the type at {end}: {text!r}")
    return parsed


def _word(text: str, pos: int, stops: str) -> tuple:
    end = pos
    depth = 0
    while end < len(text) and (depth or text[end] not in stops):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        end += 1
    if end == pos:
        raise ValueError(f"expected a name or type at {pos}: {text!r}")
    return text[pos:end], end


def _expect(text: str, pos: int, char: str) -> int:
    if pos >= len(text) or text[pos] != char:
        raise ValueError(f"expected {char!r} at {pos}: {text!r}")
    return pos + 1


def _parse(text: str, pos: int) -> tuple:
    word, pos = _word(text, pos, "<>,:")
    if word == "struct":
        pos = _expect(text, pos, "<")
        fields = []
        while text[pos:pos + 1] != ">":
            if fields:
                pos = _expect(text, pos, ",")
            name, pos = _word(text, pos, ":<>,")
            pos = _expect(text, pos, ":")
            child, pos = _parse(text, pos)
            fields.append((name, child))
        return HiveType("struct", tuple(fields)), _expect(text, pos, ">")
    if word in ("array", "map"):
        pos = _expect(text, pos, "<")
        children = [_parse(text, pos)]
        pos = children[0][1]
        if word == "map":
            pos = _expect(text, pos, ",")
            children.append(_parse(text, pos))
            pos = children[1][1]
        return HiveType(word, tuple(child for child, _ in children)), _expect(text, pos, ">")
    return HiveType(word), pos


# -- comparing -------------------------------------------------------------------------------------


def compare(schema: pa.Schema, columns: list, partitions: list = ()) -> list:
    """What a Glue table (``columns`` and ``partitions`` as GetTable returns them) does to our data.

    One line per problem, e.g. ``finding_info.uid: the table has int, our Parquet string``;
    an empty list when Athena reads every column of ``schema`` as it is.
    """
    table = {}
    for column in list(columns) + list(partitions):
        name = column["Name"].lower()
        try:
            table[name] = parse_hive_type(column.get("Type", ""))
        except ValueError as exc:
            table[name] = HiveType(f"unparseable type ({exc})")
    problems = []
    for field in schema:
        name = field.name.lower()
        ours = parse_hive_type(glue_type(field.type))
        if name not in table:
            problems.append(f"{name}: missing from the table, so Athena never returns it")
        else:
            problems.extend(_differences(name, ours, table[name]))
    for key in PARTITION_KEYS:
        if key not in {p["Name"].lower() for p in partitions}:
            problems.append(f"{key}: not a partition key of the table (Security Lake partitions by {key})")
    return problems


def _differences(path: str, ours: HiveType, theirs: HiveType) -> list:
    if ours.kind != theirs.kind:
        if (ours.kind, theirs.kind) in _WIDENINGS:
            return []
        return [f"{path}: the table has {theirs}, our Parquet {ours}"]
    if ours.kind == "struct":
        table_fields = dict(theirs.children)
        problems = []
        for name, child in ours.children:
            if name not in table_fields:
                problems.append(f"{path}.{name}: missing from the table's struct, so Athena never returns it")
            else:
                problems.extend(_differences(f"{path}.{name}", child, table_fields[name]))
        return problems
    if ours.kind == "array":
        return _differences(f"{path}[]", ours.children[0], theirs.children[0])
    if ours.kind == "map":
        return _differences(f"{path}.key", ours.children[0], theirs.children[0]) + _differences(
            f"{path}.value", ours.children[1], theirs.children[1]
        )
    return []
