"""Read-only look at ``ossec.conf``'s ``<integration>`` blocks, for ``wazuh-ocsf doctor``.

``ossec.conf`` is not one XML document (several ``<ossec_config>`` roots, comments anywhere,
values Wazuh's own parser takes verbatim, ``&`` included), so it is scanned, never parsed as
XML: comments are blanked out (offsets and line numbers kept), then every ``<integration>``
element and its child tags are read with their line numbers. Nothing here writes the file.

The installer (``installer/wazuh_ocsf_installer/ossec_conf.py``) edits the block with its own
offset-exact scanner, and takes :data:`ALLOWED_TAGS` and :data:`INTEGRATION_NAME` from here.
"""

from __future__ import annotations

import re

from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.hook.run import parse_options

INTEGRATION_NAME = "custom-wazuh-ocsf"

#: The only tags integratord accepts inside ``<integration>`` (Wazuh 4.x,
#: src/config/integrator-config.c); any other tag stops the manager from starting.
ALLOWED_TAGS = (
    "name",
    "hook_url",
    "api_key",
    "level",
    "rule_id",
    "group",
    "event_location",
    "alert_format",
    "options",
    "max_log",
    "timeout",
    "retries",
)

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK = re.compile(r"<integration(\s[^>]*)?>(.*?)</integration\s*>", re.S)
_CHILD = re.compile(r"<([A-Za-z_][-\w.]*)(\s[^>]*)?(?:/>|>(.*?)</\1\s*>)", re.S)


class IntegrationBlock:
    """One ``<integration>`` element: its child ``(tag, value, line)`` triples and stray text."""

    __slots__ = ("children", "line", "stray")

    def __init__(self, line: int, children: list, stray: str) -> None:
        self.line = line
        self.children = children
        self.stray = stray

    def value(self, tag: str) -> str | None:
        """The first ``<tag>``'s stripped value, or None."""
        for name, value, _ in self.children:
            if name == tag:
                return value
        return None

    @property
    def name(self) -> str | None:
        return self.value("name")


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def integration_blocks(text: str) -> list:
    """Every ``<integration>`` element of ``text`` (comments ignored), in file order."""
    clean = _COMMENT.sub(_blank, text)
    blocks = []
    for match in _BLOCK.finditer(clean):
        body, start = match.group(2), match.start(2)
        children = []
        for child in _CHILD.finditer(body):
            line = clean.count("\n", 0, start + child.start()) + 1
            children.append((child.group(1), (child.group(3) or "").strip(), line))
        stray = _CHILD.sub("", body).strip()
        blocks.append(IntegrationBlock(clean.count("\n", 0, match.start()) + 1, children, stray))
    return blocks


def ours(text: str) -> list:
    """The ``<integration>`` blocks whose ``<name>`` is ``custom-wazuh-ocsf``."""
    return [block for block in integration_blocks(text) if block.name == INTEGRATION_NAME]


def block_problems(block: IntegrationBlock) -> list:
    """What integratord or wazuh-ocsf would refuse in one of our blocks (empty: none)."""
    found = []
    for tag, _, line in block.children:
        if tag not in ALLOWED_TAGS:
            found.append(f"line {line}: <{tag}> is not a tag integratord accepts (the manager will not start)")
    seen = [tag for tag, _, _ in block.children]
    for tag in sorted({t for t in seen if seen.count(t) > 1}):
        found.append(f"<{tag}> appears {seen.count(tag)} times")
    if block.stray:
        found.append(f"line {block.line}: text outside any tag: {block.stray[:60]!r}")
    alert_format = block.value("alert_format")
    if alert_format != "json":
        got = "missing" if alert_format is None else f"{alert_format!r}"
        found.append(f"<alert_format> is {got}: it must be json (integratord passes JSON alerts only then)")
    options = block.value("options")
    if options:
        found.extend(_options_problems(options))
    level = block.value("level")
    if level is not None and not (level.isdigit() and int(level) <= 16):
        found.append(f"<level> {level!r}: expected a rule level from 0 to 16")
    return found


def _options_problems(options: str) -> list:
    """What the hook would refuse in ``<options>`` (its own check, :func:`parse_options`)."""
    try:
        parse_options(options)
    except ConfigError as exc:
        return [str(exc)]
    return []
