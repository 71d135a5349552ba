"""Add, update or remove the one wazuh-ocsf ``<integration>`` block of ``ossec.conf``, and nothing else.

``ossec.conf`` is not one XML document: real files have several ``<ossec_config>`` root blocks,
comments everywhere, other tools' ``<integration>`` blocks, and sometimes text that Wazuh's own
parser (``os_xml``) accepts but a standard XML parser does not. So the file is never round-tripped
through an XML library: a small scanner finds the byte offsets of the root blocks and of our
block, and the edit splices text at those offsets. Every byte outside our block stays as it was.

Wazuh's parser does not decode XML entities (``&amp;`` reaches integratord as ``&amp;``; see
wazuh/wazuh#2447 and #6260), so escaping cannot carry ``<``, ``>`` or ``&`` to integratord
unchanged. :func:`check_value` therefore refuses them (and characters ``os_xml`` treats
specially), and :func:`render_integration` escapes anyway, so no value can ever end the element
early. :func:`check_edit` proves the result before anything is written: each root block parses
with ``xml.etree``, our block holds exactly the intended tags and values, and removing our block
from the old and the new text gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

# The tags integratord accepts and our block's name: one list, shared with ``wazuh-ocsf doctor``.
from wazuh_ocsf.operations.ossec_conf import ALLOWED_TAGS, INTEGRATION_NAME
from wazuh_ocsf_installer.errors import OssecConfError

#: The comment that opens the root block the installer appends. XML comments cannot hold "--".
MARKER = (
    "<!-- Managed by the wazuh-ocsf installer (installer/install.sh): re-run it to change this block;"
    " its uninstall option removes it. -->"
)
_MARKER_WORDS = "wazuh-ocsf installer"
_INDENT = "  "
_NAME_RE = re.compile(r"[A-Za-z_:][-A-Za-z0-9_.:]*")
_RULE_IDS_RE = re.compile(r"[0-9]+( *, *[0-9]+)*")
_LINE_REST_RE = re.compile(r"[ \t]*(\r?\n|\Z)")
_SKIP = (("<!--", "-->", "comment"), ("<![CDATA[", "]]>", "CDATA section"), ("<?", "?>", "processing instruction"))


class Element:
    """One element of the file, by offsets: ``text[start:end]`` is the whole element."""

    __slots__ = ("children", "content_end", "content_start", "end", "name", "start")

    def __init__(self, name: str, start: int) -> None:
        self.name = name
        self.start = start
        self.content_start = self.content_end = self.end = -1
        self.children: list[Element] = []


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _tag_end(text: str, start: int) -> int:
    """Offset of the ``>`` that ends the tag opened at ``start``, skipping quoted attribute values."""
    quote = None
    for index in range(start + 1, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == ">":
            return index
    raise OssecConfError(f"ossec.conf line {_line(text, start)}: tag never closed with '>'")


def scan(text: str) -> list[Element]:
    """The root elements of ``text`` with their children, by offsets.

    Raises OssecConfError naming the line of anything it cannot make sense of (the installer
    refuses to edit a file it does not understand).
    """
    roots: list[Element] = []
    stack: list[Element] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            break
        if lt and text[lt - 1] == "\\":  # os_xml reads "\<" as a literal "<" in content
            pos = lt + 1
            continue
        for opener, closer, what in _SKIP:
            if text.startswith(opener, lt):
                close = text.find(closer, lt + len(opener))
                if close < 0:
                    raise OssecConfError(f"ossec.conf line {_line(text, lt)}: {what} never closed")
                pos = close + len(closer)
                break
        else:
            if text.startswith("<!", lt):  # <!DOCTYPE …>
                pos = _tag_end(text, lt) + 1
                continue
            closing = text.startswith("</", lt)
            match = _NAME_RE.match(text, lt + (2 if closing else 1))
            if not match:
                raise OssecConfError(f"ossec.conf line {_line(text, lt)}: '<' that starts no element")
            gt = _tag_end(text, lt)
            if closing:
                if text[match.end() : gt].strip():
                    raise OssecConfError(f"ossec.conf line {_line(text, lt)}: malformed closing tag")
                if not stack or stack[-1].name != match.group():
                    expected = (
                        f"</{stack[-1].name}> (opened at line {_line(text, stack[-1].start)})" if stack else "none"
                    )
                    raise OssecConfError(
                        f"ossec.conf line {_line(text, lt)}: </{match.group()}> closes nothing open;"
                        f" expected {expected}"
                    )
                element = stack.pop()
                element.content_end, element.end = lt, gt + 1
            else:
                element = Element(match.group(), lt)
                (stack[-1].children if stack else roots).append(element)
                if text[gt - 1] == "/":
                    element.content_start = element.content_end = element.end = gt + 1
                else:
                    element.content_start = gt + 1
                    stack.append(element)
            pos = gt + 1
    if stack:
        raise OssecConfError(f"ossec.conf line {_line(text, stack[-1].start)}: <{stack[-1].name}> is never closed")
    return roots


def child_text(text: str, element: Element, tag: str) -> str | None:
    """The stripped content of the first ``<tag>`` child of ``element``, or None."""
    for child in element.children:
        if child.name == tag:
            return text[child.content_start : child.content_end].strip()
    return None


def find_ours(text: str, roots: list[Element]) -> list[tuple[Element, Element]]:
    """Every ``(root, integration)`` whose ``<name>`` is ours, in file order."""
    return [
        (root, child)
        for root in roots
        if root.name == "ossec_config"
        for child in root.children
        if child.name == "integration" and child_text(text, child, "name") == INTEGRATION_NAME
    ]


def detect_eol(text: str) -> str:
    """``\\r\\n`` when the file mostly uses it, else ``\\n``."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def check_value(tag: str, value: str) -> str:
    """Return ``value`` if integratord reads it exactly as written; raise ValueError saying why not."""
    if tag not in ALLOWED_TAGS:
        raise ValueError(f"<{tag}> is not a tag integratord accepts")
    if value != value.strip() or not value:
        raise ValueError("empty, or with leading or trailing white space")
    for char in value:
        if "\ud800" <= char <= "\udfff":
            raise ValueError("contains bytes that are not UTF-8 text")
        if char in "<>&" or ord(char) < 32 or ord(char) == 127:
            raise ValueError(
                f"contains {char!r}: Wazuh's ossec.conf parser does not decode XML escapes, so it cannot be written"
            )
    if value.endswith("\\"):
        raise ValueError("ends with '\\', which Wazuh's parser would join with the closing tag")
    if tag in ("level", "max_log", "timeout", "retries") and not value.isdigit():
        raise ValueError("expected a whole number")
    if tag == "level" and int(value) > 16:
        raise ValueError("expected a rule level from 0 to 16")
    if tag == "rule_id" and not _RULE_IDS_RE.fullmatch(value):
        raise ValueError("expected rule ids separated by commas, e.g. 5710,5712")
    if tag == "group" and any(not part.strip() for part in value.split(",")):
        raise ValueError("expected group names separated by commas, e.g. authentication_failed,syscheck")
    if tag == "alert_format" and value != "json":
        raise ValueError("wazuh-ocsf reads JSON alerts: alert_format must be json")
    return value


def render_integration(values: dict, indent: str, eol: str) -> str:
    """Our ``<integration>`` element, its first line unindented, in :data:`ALLOWED_TAGS` order."""
    lines = ["<integration>"]
    for tag in ALLOWED_TAGS:
        if tag in values:
            lines.append(f"{indent}{_INDENT}<{tag}>{escape(values[tag])}</{tag}>")
    lines.append(f"{indent}</integration>")
    return eol.join(lines)


def _render_root(values: dict, eol: str) -> str:
    return eol.join(
        ("<ossec_config>", _INDENT + MARKER, _INDENT + render_integration(values, _INDENT, eol), "</ossec_config>")
    )


def _line_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole lines (with their line end) when only white space shares them."""
    line_start = text.rfind("\n", 0, start) + 1
    after = _LINE_REST_RE.match(text, end)
    if text[line_start:start].strip(" \t") or not after:
        return start, end
    return line_start, after.end()


def _only_ours(text: str, root: Element, ours: list[Element]) -> bool:
    """Whether ``root`` holds nothing but our elements, the marker comment and white space."""
    rest = text[root.content_start : root.content_end]
    for element in sorted(ours, key=lambda e: e.start, reverse=True):
        offset = root.content_start
        rest = rest[: element.start - offset] + rest[element.end - offset :]
    rest = re.sub(r"<!--(.*?)-->", lambda m: "" if _MARKER_WORDS in m.group(1) else m.group(0), rest, flags=re.S)
    return not rest.strip()


def _root_span(text: str, root: Element) -> tuple[int, int]:
    """The span of a whole root block, with the blank separator line(s) :func:`upsert` put before it."""
    start, end = _line_span(text, root.start, root.end)
    if start == root.start and start and text[start - 1] != "\n":
        return start, end  # shares its line with other text: take the block alone
    eol = detect_eol(text)
    if text[:end].endswith("\n"):
        if text[:start].endswith(eol + eol):
            start -= len(eol)
    elif end == len(text) and text[:start].endswith(eol + eol):  # appended to a file without a final newline
        start -= 2 * len(eol)
    return start, end


def _marker_spans(text: str, root: Element) -> list[tuple[int, int]]:
    spans = []
    for match in re.finditer(r"<!--(.*?)-->", text[root.content_start : root.content_end], flags=re.S):
        if _MARKER_WORDS in match.group(1):
            spans.append(_line_span(text, root.content_start + match.start(), root.content_start + match.end()))
    return spans


def _removal_spans(text: str, found: list[tuple[Element, Element]]) -> list[tuple[int, int]]:
    by_root: dict[int, tuple[Element, list[Element]]] = {}
    for root, element in found:
        by_root.setdefault(root.start, (root, []))[1].append(element)
    spans = []
    for root, elements in by_root.values():
        if _only_ours(text, root, elements):
            spans.append(_root_span(text, root))
        else:
            spans.extend(_line_span(text, e.start, e.end) for e in elements)
            spans.extend(_marker_spans(text, root))
    return spans


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def remove(text: str) -> str:
    """``text`` without any wazuh-ocsf ``<integration>`` block (and the root block the installer added)."""
    found = find_ours(text, scan(text))
    return _splice(text, [(start, end, "") for start, end in _removal_spans(text, found)])


def upsert(text: str, values: dict) -> str:
    """``text`` with exactly one wazuh-ocsf block holding ``values`` (tag → text, already checked).

    An existing block is rewritten where it stands (the first one; duplicates are removed);
    otherwise a new ``<ossec_config>`` root block is appended at the end of the file.
    """
    eol = detect_eol(text)
    found = find_ours(text, scan(text))
    if not found:
        root = _render_root(values, eol)
        if not text:
            return root + eol
        if text.endswith("\n"):
            return text + eol + root + eol
        return text + eol + eol + root
    first = found[0][1]
    line_start = text.rfind("\n", 0, first.start) + 1
    indent = text[line_start : first.start] if not text[line_start : first.start].strip(" \t") else _INDENT
    edits = [(first.start, first.end, render_integration(values, indent, eol))]
    rest = [pair for pair in found[1:] if pair[0] is not found[0][0]]
    same_root = [(r, e) for r, e in found[1:] if r is found[0][0]]
    edits += [(s, e, "") for s, e in _removal_spans(text, rest)]
    edits += [(*_line_span(text, e.start, e.end), "") for _, e in same_root]
    return _splice(text, edits)


def _parse_xml(block: str) -> ET.Element:
    """``block`` parsed from its original bytes: a byte that is not UTF-8 is a ParseError, not a crash.

    The file is read with ``surrogateescape`` (every byte kept, never re-encoded), so a Latin-1
    byte is a lone surrogate here; the XML parser gets the bytes back and reports it as XML.
    """
    return ET.fromstring(block.encode("utf-8", "surrogateescape"))


def block_values(text: str) -> list[dict]:
    """The tag → value dicts of every wazuh-ocsf block in ``text``, as a standard XML parser reads them."""
    out = []
    for _, element in find_ours(text, scan(text)):
        try:
            parsed = _parse_xml(text[element.start : element.end])
        except ET.ParseError as exc:
            raise OssecConfError(
                f"ossec.conf line {_line(text, element.start)}: the wazuh-ocsf block is not readable XML ({exc}):"
                " fix or remove it by hand, then re-run the installer"
            ) from None
        out.append({child.tag: child.text or "" for child in parsed})
    return out


def check_edit(old: str, new: str, expected: dict | None) -> list[str]:
    """Prove ``new`` is ``old`` with only our block changed; return warnings, raise OssecConfError.

    ``expected`` is our block's tag → value dict, or None when the block must be gone.
    """
    warnings = []
    old_failing = set()
    for root in scan(old):
        block = old[root.start : root.end]
        try:
            _parse_xml(block)
        except ET.ParseError:
            old_failing.add(block)
    for root in scan(new):
        block = new[root.start : root.end]
        try:
            _parse_xml(block)
        except ET.ParseError as exc:
            if block not in old_failing:
                raise OssecConfError(
                    f"the edited ossec.conf does not parse at line {_line(new, root.start)}: {exc};"
                    " ossec.conf was left as it was"
                ) from None
            warnings.append(
                f"ossec.conf line {_line(new, root.start)}: a block the installer did not touch is not strict XML"
                f" ({exc}); Wazuh's parser is more lenient, so it was left as it is"
            )
    values = block_values(new)
    if expected is None and values:
        raise OssecConfError(
            "internal check failed: the wazuh-ocsf block is still present; ossec.conf was left as it was"
        )
    if expected is not None:
        if len(values) != 1 or values[0] != expected:
            raise OssecConfError(
                f"internal check failed: expected one wazuh-ocsf block with {expected}, found {values};"
                " ossec.conf was left as it was"
            )
        bad = set(values[0]) - set(ALLOWED_TAGS)
        if bad:
            raise OssecConfError(f"internal check failed: tags integratord refuses: {sorted(bad)}")
    if remove(new) != remove(old):
        raise OssecConfError(
            "internal check failed: the edit would change more than the wazuh-ocsf block; ossec.conf was left as it was"
        )
    return warnings
