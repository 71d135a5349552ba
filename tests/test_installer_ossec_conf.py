"""The installer's ossec.conf editor on its own: odd files, exact bytes, and its safety checks."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "installer"))

from wazuh_ocsf_installer import ossec_conf
from wazuh_ocsf_installer.errors import OssecConfError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "wazuh"
VALUES = {"name": "custom-wazuh-ocsf", "level": "3", "alert_format": "json"}


def default_conf() -> str:
    if not (SHARED / "ossec-server.conf").is_file():
        pytest.skip(f"shared Wazuh reference data missing at {SHARED}")
    return (SHARED / "ossec-server.conf").read_text()


@pytest.mark.parametrize(
    "variant",
    ["as-shipped", "crlf", "no-final-newline", "empty", "self-closing-root", "trailing-blank-lines"],
)
def test_upsert_then_remove_gives_back_every_byte(variant):
    text = {
        "as-shipped": default_conf,
        "crlf": lambda: default_conf().replace("\n", "\r\n"),
        "no-final-newline": lambda: default_conf().rstrip("\n"),
        "empty": lambda: "",
        "self-closing-root": lambda: "<ossec_config/>",
        "trailing-blank-lines": lambda: default_conf() + "\n\n",
    }[variant]()
    added = ossec_conf.upsert(text, VALUES)
    assert ossec_conf.check_edit(text, added, VALUES) == []
    assert ossec_conf.upsert(added, VALUES) == added
    assert ossec_conf.remove(added) == text
    if "\r\n" in text:
        assert "\n" not in added.replace("\r\n", "")


def test_commented_out_blocks_and_other_integrations_are_not_ours():
    text = (
        "<ossec_config>\n  <!--\n  <integration><name>custom-wazuh-ocsf</name></integration>\n  -->\n"
        "  <integration>\n    <name>custom-wazuh-ocsf-old</name>\n  </integration>\n</ossec_config>\n"
    )
    assert ossec_conf.find_ours(text, ossec_conf.scan(text)) == []
    assert ossec_conf.remove(text) == text


def test_duplicates_collapse_to_one_block_rewritten_in_place():
    block = "  <integration>\n    <name>custom-wazuh-ocsf</name>\n  </integration>\n"
    text = f"<ossec_config>\n{block}  <global/>\n</ossec_config>\n\n<ossec_config>\n{block}</ossec_config>\n"
    new = ossec_conf.upsert(text, VALUES)
    assert new == (
        "<ossec_config>\n  <integration>\n    <name>custom-wazuh-ocsf</name>\n    <level>3</level>\n"
        "    <alert_format>json</alert_format>\n  </integration>\n  <global/>\n</ossec_config>\n"
    )
    ossec_conf.check_edit(text, new, VALUES)


def test_render_escapes_what_would_end_the_element():
    hostile = "</group><command>rm -rf /</command>\"&'"
    rendered = ossec_conf.render_integration({"name": "x", "group": hostile}, "", "\n")
    assert [(c.tag, c.text) for c in ET.fromstring(rendered)] == [("name", "x"), ("group", hostile)]


@pytest.mark.parametrize(
    ("tag", "value", "problem"),
    [
        ("group", "a<b", "does not decode XML escapes"),
        ("group", "a&amp;b", "does not decode XML escapes"),
        ("event_location", "C:\\", "ends with"),
        ("level", "17", "0 to 16"),
        ("rule_id", "5710;5712", "separated by commas"),
        ("group", " sshd", "white space"),
        ("command", "x", "not a tag integratord accepts"),
        ("alert_format", "text", "must be json"),
    ],
)
def test_check_value_refuses_what_integratord_would_not_read_verbatim(tag, value, problem):
    with pytest.raises(ValueError, match=problem):
        ossec_conf.check_value(tag, value)


def test_check_edit_refuses_a_change_outside_our_block():
    text = default_conf()
    tampered = ossec_conf.upsert(text, VALUES).replace("<logall>no</logall>", "<logall>yes</logall>")
    with pytest.raises(OssecConfError, match="would change more than the wazuh-ocsf block"):
        ossec_conf.check_edit(text, tampered, VALUES)


def test_check_edit_tolerates_lenient_blocks_it_did_not_touch():
    text = "<ossec_config>\n  <command>a && b</command>\n</ossec_config>\n"
    new = ossec_conf.upsert(text, VALUES)
    [warning] = ossec_conf.check_edit(text, new, VALUES)
    assert "line 1: a block the installer did not touch is not strict XML" in warning


def test_scan_names_the_line_of_a_broken_file():
    with pytest.raises(OssecConfError, match=r"line 2: <global> is never closed"):
        ossec_conf.scan("<ossec_config>\n  <global>\n")
