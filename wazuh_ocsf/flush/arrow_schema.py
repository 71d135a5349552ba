"""THE Parquet schema of wazuh-ocsf: one explicit Arrow schema per OCSF class.

Everything that writes Parquet takes its schema from :func:`schema_for`, so every file of a
class has the same columns and types, whatever its events hold (Glue and Athena read them
all with one table definition). The schema covers every attribute the mappers in
:mod:`wazuh_ocsf.mapping` can emit, and nothing else. OCSF types become:

* ``integer_t`` → int32; ``long_t`` and ``timestamp_t`` → int64 (epoch milliseconds, as
  Security Lake's own sources store ``time``); ``float_t`` → float64 (CVSS scores);
  ``string_t`` and its subtypes → string; ``boolean_t`` → bool;
* objects → structs, arrays → lists, ``unmapped`` → ``map<string, string>``;
* ``json_t`` → string holding JSON (the mappers emit no ``json_t`` attribute today).

Each field carries its OCSF attribute type in the field metadata (``ocsf_type``). A test
proves that every event of the test corpus survives ``events_to_table`` → Parquet → Python
unchanged, for every class.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from wazuh_ocsf.class_facts import OCSF_VERSION, derived_attributes
from wazuh_ocsf.config import (
    AUTHENTICATION,
    CLASS_NAMES,
    COMPLIANCE_FINDING,
    DETECTION_FINDING,
    FILE_ACTIVITY,
    SECURITY_FINDING,
    VULNERABILITY_FINDING,
)
from wazuh_ocsf.errors import ConversionError
from wazuh_ocsf.spool import line as spool_line

UNMAPPED = "unmapped"

_TYPES = {
    "integer_t": pa.int32(),
    "long_t": pa.int64(),
    "float_t": pa.float64(),
    "timestamp_t": pa.int64(),
    "string_t": pa.string(),
    "ip_t": pa.string(),
    "file_path_t": pa.string(),
    "file_name_t": pa.string(),
    "port_t": pa.int32(),
    "boolean_t": pa.bool_(),
    "url_t": pa.string(),
}


def _f(name: str, ocsf_type: str) -> pa.Field:
    """A scalar column of OCSF type ``ocsf_type``."""
    return pa.field(name, _TYPES[ocsf_type], metadata={"ocsf_type": ocsf_type})


def _obj(name: str, ocsf_object: str, *fields: pa.Field) -> pa.Field:
    """An OCSF object attribute → struct."""
    return pa.field(name, pa.struct(list(fields)), metadata={"ocsf_type": f"object:{ocsf_object}"})


def _list_of(name: str, item: pa.Field) -> pa.Field:
    """An OCSF array attribute → list of the item's type."""
    item_type = item.metadata[b"ocsf_type"].decode()
    return pa.field(name, pa.list_(item.with_name("element")), metadata={"ocsf_type": f"{item_type}[]"})


def _strings(name: str) -> pa.Field:
    return _list_of(name, _f("element", "string_t"))


def _classification(*, risk_score: bool = True) -> list:
    fields = [
        _f("activity_id", "integer_t"),
        _f("activity_name", "string_t"),
        _f("category_uid", "integer_t"),
        _f("category_name", "string_t"),
        _f("class_uid", "integer_t"),
        _f("class_name", "string_t"),
        _f("type_uid", "long_t"),
        _f("type_name", "string_t"),
        _f("severity_id", "integer_t"),
        _f("severity", "string_t"),
        _f("time", "timestamp_t"),
        _f("timezone_offset", "integer_t"),
        _f("message", "string_t"),
        _f("risk_score", "integer_t"),
        _f("raw_data", "string_t"),
    ]
    if not risk_score:  # only the 2001 and 2004 classes have it
        fields = [field for field in fields if field.name != "risk_score"]
    return fields


def _metadata(*, profiles: bool, finding: bool = False) -> pa.Field:
    fields = [
        _f("version", "string_t"),
        _obj(
            "product",
            "product",
            _f("name", "string_t"),
            _f("vendor_name", "string_t"),
            _f("lang", "string_t"),
            _f("version", "string_t"),
        ),
        _f("log_name", "string_t"),
        _f("log_provider", "string_t"),
        _f("original_time", "string_t"),
        _f("uid", "string_t"),
    ]
    if finding:  # 2001/2004: the source's event code; the agent that collected a cloud/SaaS/syslog alert
        fields.append(_f("event_code", "string_t"))
        fields.append(_list_of("loggers", _obj("element", "logger", _f("uid", "string_t"), _f("name", "string_t"),
                                                 _device())))
    if profiles:  # File System Activity events use no profile
        fields.append(_strings("profiles"))
    return _obj("metadata", "metadata", *fields)


def _analytic() -> pa.Field:
    return _obj(
        "analytic",
        "analytic",
        _f("type_id", "integer_t"),
        _f("type", "string_t"),
        _f("uid", "string_t"),
        _f("name", "string_t"),
        _f("category", "string_t"),
    )


def _attacks() -> pa.Field:
    def entity(name: str, ocsf_object: str) -> pa.Field:
        return _obj(name, ocsf_object, _f("uid", "string_t"), _f("name", "string_t"))

    return _list_of(
        "attacks",
        _obj(
            "element",
            "attack",
            entity("technique", "technique"),
            entity("sub_technique", "sub_technique"),
            entity("tactic", "tactic"),
            _f("version", "string_t"),
        ),
    )


def _resources() -> pa.Field:
    return _list_of(
        "resources",
        _obj(
            "element",
            "resource_details",
            _f("uid", "string_t"),
            _f("name", "string_t"),
            _f("type", "string_t"),
            _f("region", "string_t"),
            _strings("labels"),
        ),
    )


def _observables() -> pa.Field:
    return _list_of(
        "observables",
        _obj(
            "element",
            "observable",
            _f("name", "string_t"),
            _f("type_id", "integer_t"),
            _f("type", "string_t"),
            _f("value", "string_t"),
        ),
    )


def _unmapped() -> pa.Field:
    return pa.field(UNMAPPED, pa.map_(pa.string(), pa.string()), metadata={"ocsf_type": "object:object"})


def _file(*, hashes: bool) -> pa.Field:
    fields = [_f("name", "file_name_t"), _f("path", "file_path_t"), _f("type_id", "integer_t"), _f("type", "string_t")]
    if hashes:
        fingerprint = _obj(
            "element",
            "fingerprint",
            _f("algorithm_id", "integer_t"),
            _f("algorithm", "string_t"),
            _f("value", "string_t"),
        )
        fields.append(_list_of("hashes", fingerprint))
    return _obj("file", "file", *fields)


def _endpoint(name: str, *extra: pa.Field) -> pa.Field:
    return _obj(name, "network_endpoint", _f("ip", "ip_t"), _f("port", "port_t"), *extra)


def _named(name: str, ocsf_object: str) -> pa.Field:
    return _obj(name, ocsf_object, _f("name", "string_t"))


def _api() -> pa.Field:
    """``api``: a CloudTrail or Office 365 operation (mapping.module_evidence)."""
    return _obj(
        "api",
        "api",
        _f("operation", "string_t"),
        _f("version", "string_t"),
        _named("service", "service"),
        _obj("request", "request", _f("uid", "string_t")),
        _obj("response", "response", _f("error", "string_t"), _f("error_message", "string_t")),
    )


def _process(*, parent: bool = True) -> pa.Field:
    """``process``: an audit, Windows or Sysmon process; Sysmon's with its parent (mapping.module_evidence)."""
    fields = [_f("name", "string_t"), _f("pid", "integer_t"), _f("uid", "string_t"), _f("cmd_line", "string_t")]
    if parent:
        fields += [_f("created_time", "timestamp_t"), _f("integrity_id", "integer_t"), _f("integrity", "string_t")]
    fields += [_file(hashes=parent), _obj("user", "user", _f("name", "string_t"), _f("domain", "string_t"))]
    if parent:
        fields.append(_process(parent=False).with_name("parent_process"))
    return _obj("process", "process", *fields)


def _evidences() -> pa.Field:
    """Detection Finding ``evidences`` (mapping.evidences, mapping.module_evidence)."""
    user = _obj(
        "user",
        "user",
        _f("name", "string_t"),
        _f("uid", "string_t"),
        _f("uid_alt", "string_t"),
        _f("type", "string_t"),
        _f("credential_uid", "string_t"),
        _obj("account", "account", _f("uid", "string_t"), _f("type_id", "integer_t"), _f("type", "string_t")),
    )
    session = _obj(
        "session", "session", _f("created_time", "timestamp_t"), _f("is_mfa", "boolean_t"), _f("issuer", "string_t")
    )
    return _list_of(
        "evidences",
        _obj(
            "element",
            "evidences",
            _endpoint("src_endpoint", _f("svc_name", "string_t"), _f("uid", "string_t")),
            _endpoint("dst_endpoint"),
            _obj("actor", "actor", user, session, _f("invoked_by", "string_t"), _named("idp", "idp")),
            _api(),
            _file(hashes=True),
            _process(),
        ),
    )


def _finding_info(*extra: pa.Field) -> pa.Field:
    return _obj(
        "finding_info",
        "finding_info",
        _f("uid", "string_t"),
        _f("title", "string_t"),
        _strings("types"),
        _analytic(),
        _attacks(),
        _strings("data_sources"),
        *extra,
    )


def _device(*, hostname: bool = False) -> pa.Field:
    """``hostname``: Detection Finding's remote-syslog device (mapping.subject)."""
    fields = [_f("uid", "string_t"), _f("name", "string_t"), _f("ip", "ip_t"), _f("type_id", "integer_t"),
              _f("type", "string_t")]
    if hostname:
        fields.insert(2, _f("hostname", "string_t"))
    return _obj("device", "device", *fields)


def _malware() -> pa.Field:
    return _list_of(
        "malware",
        _obj(
            "element",
            "malware",
            _f("name", "string_t"),
            _f("uid", "string_t"),
            _f("path", "string_t"),
            _list_of("classification_ids", _f("element", "integer_t")),
            _strings("classifications"),
            _f("provider", "string_t"),
        ),
    )


def _cloud() -> pa.Field:
    """The cloud profile's ``cloud``: the provider, account or project a module alert is about."""
    return _obj(
        "cloud",
        "cloud",
        _f("provider", "string_t"),
        _f("region", "string_t"),
        _f("project_uid", "string_t"),
        _obj("account", "account", _f("uid", "string_t"), _f("type_id", "integer_t"), _f("type", "string_t")),
    )


def _resource() -> pa.Field:
    """The finding classes 2002 and 2003 have one ``resource``, not ``resources[]``."""
    return _obj("resource", "resource_details", _f("uid", "string_t"), _f("name", "string_t"), _f("type", "string_t"))


def _status() -> list:
    return [_f("status_id", "integer_t"), _f("status", "string_t")]


def _security_finding() -> list:
    return [
        *_classification(),
        _metadata(profiles=True, finding=True),  # the cloud profile, for cloud modules' alerts
        _f("state_id", "integer_t"),
        _f("state", "string_t"),
        _obj("finding", "finding", _f("uid", "string_t"), _f("title", "string_t"), _strings("types")),
        _analytic(),
        _attacks(),
        _compliance(),  # an SCA/CIS-CAT check's control and status too
        _list_of("cis_csc", _obj("element", "cis_csc", _f("control", "string_t"))),
        _vulnerabilities(),
        _malware(),
        _strings("data_sources"),
        _cloud(),
        _api(),  # the cloud profile's: a CloudTrail call (mapping.module_evidence)
        _process(),  # a Sysmon event's process (mapping.module_evidence)
        _resources(),
        _observables(),
        _unmapped(),
    ]


def _detection_finding() -> list:
    return [
        *_classification(),
        _metadata(profiles=True, finding=True),
        _f("status_id", "integer_t"),
        _f("status", "string_t"),
        _finding_info(),
        _vulnerabilities(),
        _device(hostname=True),
        _cloud(),
        _resources(),
        _evidences(),
        _observables(),
        _unmapped(),
    ]


def _vulnerabilities() -> pa.Field:
    """``vulnerabilities[]``: Vulnerability Finding's, and the finding classes' for the same alerts."""
    named = (_f("name", "string_t"), _f("value", "string_t"))
    cvss = _obj(
        "element",
        "cvss",
        _f("version", "string_t"),
        _f("base_score", "float_t"),
        _f("depth", "string_t"),
        _list_of("metrics", _obj("element", "metric", *named)),
        _f("severity", "string_t"),
    )
    cve = _obj(
        "cve",
        "cve",
        _f("uid", "string_t"),
        _list_of("cvss", cvss),
        _obj("cwe", "cwe", _f("uid", "string_t")),
        _f("created_time", "timestamp_t"),
        _f("modified_time", "timestamp_t"),
    )
    package = _obj(
        "element",
        "affected_package",
        _f("name", "string_t"),
        _f("version", "string_t"),
        _f("architecture", "string_t"),
        _f("fixed_in_version", "string_t"),
    )
    vulnerability = _obj(
        "element",
        "vulnerability",
        cve,
        _f("title", "string_t"),
        _f("desc", "string_t"),
        _f("severity", "string_t"),
        _strings("references"),
        _list_of("affected_packages", package),
    )
    return _list_of("vulnerabilities", vulnerability)


def _vulnerability_finding() -> list:
    return [
        *_classification(risk_score=False),
        _metadata(profiles=True),
        *_status(),
        _finding_info(_f("src_url", "url_t")),
        _vulnerabilities(),
        _device(),
        _resource(),
        _observables(),
        _unmapped(),
    ]


def _compliance() -> pa.Field:
    return _obj(
        "compliance",
        "compliance",
        _strings("standards"),
        _strings("requirements"),
        _f("control", "string_t"),
        _f("status_id", "integer_t"),
        _f("status", "string_t"),
        _f("status_code", "string_t"),
        _f("status_detail", "string_t"),
    )


def _compliance_finding() -> list:
    return [
        *_classification(risk_score=False),
        _metadata(profiles=True),
        *_status(),
        _finding_info(_f("desc", "string_t")),
        _compliance(),
        _obj("remediation", "remediation", _f("desc", "string_t"), _strings("references")),
        _device(),
        _resource(),
        _observables(),
        _unmapped(),
    ]


def _fim_file(name: str) -> pa.Field:
    fingerprint = _obj(
        "element", "fingerprint", _f("algorithm_id", "integer_t"), _f("algorithm", "string_t"), _f("value", "string_t")
    )
    return _obj(
        name,
        "file",
        _f("name", "file_name_t"),
        _f("path", "file_path_t"),
        _f("type_id", "integer_t"),
        _f("type", "string_t"),
        _f("size", "long_t"),
        _f("uid", "string_t"),
        _obj("owner", "user", _f("name", "string_t"), _f("uid", "string_t")),
        _list_of("hashes", fingerprint),
    )


def _file_activity() -> list:
    process = _obj("process", "process", _f("pid", "integer_t"), _f("name", "string_t"), _file(hashes=False))
    return [
        *_classification(risk_score=False),
        _metadata(profiles=False),
        _fim_file("file"),
        _fim_file("file_result"),
        _f("file_diff", "string_t"),
        _obj("actor", "actor", _obj("user", "user", _f("name", "string_t"), _f("uid", "string_t")), process,
             _f("invoked_by", "string_t")),
        _device(),
        _observables(),
        _unmapped(),
    ]


def _authentication() -> list:
    def user() -> pa.Field:
        return _obj("user", "user", _f("name", "string_t"), _f("domain", "string_t"), _f("uid", "string_t"))

    return [
        *_classification(risk_score=False),
        _metadata(profiles=True),
        *_status(),
        user(),
        _obj("src_endpoint", "network_endpoint", _f("ip", "ip_t"), _f("port", "port_t"), _f("name", "string_t")),
        _obj(
            "dst_endpoint", "network_endpoint", _f("uid", "string_t"), _f("name", "string_t"), _f("ip", "ip_t"),
            _f("port", "port_t"),
        ),
        _obj("actor", "actor", user()),
        _f("logon_type_id", "integer_t"),
        _f("logon_type", "string_t"),
        _f("auth_protocol_id", "integer_t"),
        _f("auth_protocol", "string_t"),
        _f("status_code", "string_t"),
        _obj("session", "session", _f("uid", "string_t")),
        _obj("service", "service", _f("name", "string_t")),
        _device(),
        _observables(),
        _unmapped(),
    ]


_BUILDERS = {
    SECURITY_FINDING: _security_finding,
    DETECTION_FINDING: _detection_finding,
    VULNERABILITY_FINDING: _vulnerability_finding,
    COMPLIANCE_FINDING: _compliance_finding,
    FILE_ACTIVITY: _file_activity,
    AUTHENTICATION: _authentication,
}
_CACHE: dict = {}


def _check(class_uid: int) -> None:
    if class_uid not in _BUILDERS:
        known = ", ".join(str(uid) for uid in sorted(_BUILDERS))
        raise ValueError(f"no Arrow schema for OCSF class_uid {class_uid!r}: expected one of {known}")


def schema_for(class_uid: int) -> pa.Schema:
    """The Arrow schema of OCSF 1.1.0 class ``class_uid`` (see :data:`wazuh_ocsf.config.CLASS_NAMES`)."""
    key = ("event", class_uid)
    if key not in _CACHE:
        _check(class_uid)
        metadata = {
            "ocsf_version": OCSF_VERSION,
            "ocsf_class_uid": str(class_uid),
            "ocsf_class": CLASS_NAMES[class_uid],
        }
        _CACHE[key] = pa.schema(_BUILDERS[class_uid](), metadata=metadata)
    return _CACHE[key]


UNMAPPED_SPOOL_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())]))
#: The spool line's own columns (:mod:`wazuh_ocsf.spool.line`): its format and the lean
#: format's ``unmapped`` as two parallel lists.
SPOOL_LINE_FIELDS = (
    pa.field(spool_line.FORMAT, pa.int32()),
    pa.field(spool_line.UNMAPPED_KEYS, pa.list_(pa.string())),
    pa.field(spool_line.UNMAPPED_VALUES, pa.list_(pa.string())),
)


def spool_read_schema(class_uid: int) -> pa.Schema:
    """:func:`schema_for` as spool lines of either format hold it, for the JSON reader.

    ``unmapped`` is ``list<struct<key, value>>`` (the full format) and the line's own fields
    (:data:`SPOOL_LINE_FIELDS`) come last. For ``pyarrow.json.read_json(...,
    parse_options=ParseOptions(explicit_schema=...))``; :func:`from_spool_table` then turns
    the result into a :func:`schema_for` table.
    """
    key = ("spool", class_uid)
    if key not in _CACHE:
        schema = schema_for(class_uid)
        index = schema.get_field_index(UNMAPPED)
        field = schema.field(index)
        schema = schema.set(index, pa.field(UNMAPPED, UNMAPPED_SPOOL_TYPE, metadata=field.metadata))
        for extra in SPOOL_LINE_FIELDS:
            schema = schema.append(extra)
        _CACHE[key] = schema
    return _CACHE[key]


def _plain(array: pa.Array, memory_pool: pa.MemoryPool | None) -> pa.Array:
    """``array`` without an offset (from_arrays cannot take a null mask with sliced offsets)."""
    if array.offset or (len(array) and array.offsets[0].as_py()):
        return pa.concat_arrays([array], memory_pool=memory_pool)
    return array


def key_value_list_to_map(
    column: pa.ChunkedArray | pa.Array, map_type: pa.DataType, *, memory_pool: pa.MemoryPool | None = None
) -> pa.ChunkedArray:
    """A ``list<struct<key, value>>`` column → ``map_type``, with no Python loop per row.

    Null rows stay null. Raises ConversionError when a pair or a key is null (a map cannot
    hold either).
    """
    chunks = []
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        chunk = _plain(chunk, memory_pool)
        pairs = chunk.values
        if pairs.null_count:
            raise ConversionError(f"{column.type}: a key/value pair is null")
        keys, values = pairs.field("key"), pairs.field("value")
        if keys.null_count:
            raise ConversionError("unmapped: a key is null")
        mask = chunk.is_null() if chunk.null_count else None
        chunks.append(pa.MapArray.from_arrays(chunk.offsets, keys, values, type=map_type, pool=memory_pool, mask=mask))
    return pa.chunked_array(chunks, type=map_type)


def parallel_lists_to_map(
    keys: pa.Array, values: pa.Array, map_type: pa.DataType, *, memory_pool: pa.MemoryPool | None = None
) -> pa.Array:
    """Two ``list<string>`` arrays of the same lengths row by row → ``map_type``, no Python loop.

    A row is null where both are. Raises ConversionError when they do not pair up or a key
    is null.
    """
    keys, values = _plain(keys, memory_pool), _plain(values, memory_pool)
    if (keys.null_count or values.null_count) and not keys.is_null().equals(values.is_null()):
        raise ConversionError("unmapped: keys without values, or values without keys")
    if not keys.offsets.equals(values.offsets):
        raise ConversionError("unmapped: a row has not as many keys as values")
    if keys.values.null_count:
        raise ConversionError("unmapped: a key is null")
    mask = keys.is_null() if keys.null_count else None
    return pa.MapArray.from_arrays(keys.offsets, keys.values, values.values, type=map_type, pool=memory_pool, mask=mask)


def _lean_rows(batch: pa.RecordBatch) -> pa.Array | bool:
    """Which rows are lean spool lines: True (all), False (none) or a boolean array."""
    formats = batch.column(spool_line.FORMAT)
    if formats.null_count == len(formats):
        return False
    found = pc.min_max(formats).as_py()
    if found["min"] != spool_line.LEAN or found["max"] != spool_line.LEAN:
        bad = found["max"] if found["max"] != spool_line.LEAN else found["min"]
        raise ConversionError(f"spool line format {bad} is not one this version reads")
    return True if not formats.null_count else formats.is_valid()


def _derive(source: pa.Array | None, values: object, target: pa.DataType) -> pa.Array | pa.Scalar:
    """The value of a derived attribute for every row (see ``class_facts.derived_attributes``)."""
    if source is None:
        return pa.scalar(values, target)
    ids = pa.array(list(values), source.type)
    return pc.take(pa.array(list(values.values()), target), pc.index_in(source, value_set=ids))


def _put_back(array: pa.Array, derived: object, lean: pa.Array | bool) -> pa.Array:
    """``array`` with the derived value where a lean row left the attribute out."""
    filled = pc.coalesce(array, derived)
    return filled if lean is True else pc.if_else(lean, filled, array)


def _restore_struct(array: pa.StructArray, below: dict, lean: pa.Array | bool) -> pa.StructArray:
    """A struct column with derived children put back; every lean row has the struct."""
    children = []
    for index, field in enumerate(array.type):
        child = array.field(index)
        if field.name in below:
            child = _restored(child, below[field.name], lean)
        children.append(child)
    # A lean line left the struct out only when every attribute in it was put back.
    mask = None if not array.null_count or lean is True else pc.and_(array.is_null(), pc.invert(lean))
    return pa.StructArray.from_arrays(children, fields=list(array.type), mask=mask)


def _restored(array: pa.Array, spec: object, lean: pa.Array | bool) -> pa.Array:
    if isinstance(spec, dict):
        return _restore_struct(array, spec, lean)
    return _put_back(array, spec, lean)


def _derived_tree(batch: pa.RecordBatch, schema: pa.Schema, class_uid: int) -> dict:
    """``{top attribute: derived values, or {child: …}}`` of ``class_uid`` for one batch."""
    tree: dict = {}
    for path, source, values in derived_attributes(class_uid):
        field_type = schema.field(path[0]).type
        for name in path[1:]:
            field_type = field_type.field(name).type
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = _derive(None if source is None else batch.column(source), values, field_type)
    return tree


def from_spool_table(table: pa.Table, class_uid: int, *, memory_pool: pa.MemoryPool | None = None) -> pa.Table:
    """A table read with :func:`spool_read_schema` → the same rows in :func:`schema_for`'s schema.

    Rows of either spool line format: ``unmapped`` becomes a map from the list of pairs
    (:func:`key_value_list_to_map`) or from the two lists (:func:`parallel_lists_to_map`),
    and in lean rows the attributes the line left out are put back from
    :func:`wazuh_ocsf.class_facts.derived_attributes`, all with Arrow compute, batch by
    batch. What the flusher's conversion runs. Raises ConversionError for a line that holds
    ``unmapped`` in both forms or names a format this version does not read.
    """
    if table.schema.get_field_index(UNMAPPED) < 0:
        raise ValueError("table has no unmapped column: was it read with spool_read_schema()?")
    schema = schema_for(class_uid)
    has_line_fields = table.schema.get_field_index(spool_line.FORMAT) >= 0
    batches = []
    for batch in table.to_batches():
        lean = _lean_rows(batch) if has_line_fields else False
        tree = _derived_tree(batch, schema, class_uid) if lean is not False else {}
        columns = []
        for target in schema:
            column = batch.column(target.name)
            if target.name == UNMAPPED:
                column = _unmapped_map(batch, target.type, has_line_fields, memory_pool)
            elif column.type != target.type:
                column = pc.cast(column, target.type, memory_pool=memory_pool)
            if target.name in tree:
                column = _restored(column, tree[target.name], lean)
            columns.append(column)
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def _unmapped_map(batch: pa.RecordBatch, map_type: pa.DataType, has_line_fields: bool, memory_pool) -> pa.Array:
    pairs = key_value_list_to_map(batch.column(UNMAPPED), map_type, memory_pool=memory_pool).chunk(0)
    if not has_line_fields:
        return pairs
    keys = batch.column(spool_line.UNMAPPED_KEYS)
    values = batch.column(spool_line.UNMAPPED_VALUES)
    if keys.null_count == len(keys) and values.null_count == len(values):
        return pairs
    lists = parallel_lists_to_map(keys, values, map_type, memory_pool=memory_pool)
    if pairs.null_count == len(pairs):
        return lists
    if pc.any(pc.and_(pairs.is_valid(), lists.is_valid())).as_py():
        raise ConversionError("unmapped is in the line twice: as key/value pairs and as two lists")
    return pc.coalesce(pairs, lists)


def events_to_table(events: list, class_uid: int) -> pa.Table:
    """OCSF event dicts (``unmapped`` as a dict) → a table of :func:`schema_for` ``class_uid``.

    The pure-Python path: used by tests and as the slow fallback. Every event must belong to
    ``class_uid``. Raises ``pyarrow.ArrowInvalid``/``ArrowTypeError`` when an event does not
    fit the schema; attributes the schema lacks are dropped by pyarrow, which the round-trip
    tests exist to catch.
    """
    return pa.Table.from_pylist(events, schema=schema_for(class_uid))
