"""``wazuh-ocsf map``: Wazuh alerts in, OCSF events out (one JSON object per line).

Reads ``alerts.json``-style input (one alert per line) or pretty-printed alerts, maps
each with the same mapper the hook uses, and prints the events in their OCSF JSON form.
A line that cannot be mapped is reported on stderr with its line number; the others are
still printed, and the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "map Wazuh alerts (one JSON object per line, or one pretty-printed object) to OCSF events"

EXIT_OK = 0
EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--class`` and the input file."""
    parser.add_argument(
        "--class",
        dest="ocsf_class",
        metavar="CLASS",
        help="security-finding (2001), detection-finding (2004), or auto: each alert in the class that fits it "
        "(every route active; see README, Routing); default: the configured class, else 2001",
    )
    parser.add_argument(
        "input", nargs="?", default="-", metavar="FILE", help="alerts file, or - for standard input (default)"
    )


def _settings(args: argparse.Namespace) -> tuple:
    """(class_uid, routes, product_version, attack_version). Works without any config file.

    ``routes`` is None for one class; with ``auto`` every routed class: map shows what each
    alert becomes, whatever destinations this machine has.
    """
    from wazuh_ocsf.config import (
        AUTO,
        DEFAULT_WAZUH_HOME,
        ROUTED_CLASSES,
        SECURITY_FINDING,
        SETTINGS_BY_ATTR,
        load_settings,
        parse_class,
        parse_class_choice,
    )
    from wazuh_ocsf.errors import ConfigError

    try:
        settings = load_settings(path=args.config)
        class_uid, product, attack = settings.ocsf_class, settings.product_version, settings.attack_version
        routed, finding_class = settings.routing, settings.finding_class
    except ConfigError as exc:
        if args.config:  # asked for by name: its errors count
            raise
        # The default config belongs to the hook (root:wazuh 0640); map is a pure tool and
        # must not be blocked by a config it cannot read or does not need.
        print(f"warning: ignoring {DEFAULT_WAZUH_HOME} configuration ({exc}); using defaults", file=sys.stderr)
        class_uid, product, attack = SECURITY_FINDING, None, None
        routed, finding_class = False, parse_class(SETTINGS_BY_ATTR["finding_class"].default)
    if args.ocsf_class:
        try:
            choice = parse_class_choice(args.ocsf_class)
        except ValueError as exc:
            raise ConfigError("--class", f"{exc} (got {args.ocsf_class!r})") from None
        routed = choice == AUTO
        class_uid = finding_class if routed else choice
    return class_uid, (ROUTED_CLASSES if routed else None), product, attack


def _opens_a_document(line: bytes) -> bool:
    """True for the first line of a pretty-printed alert (``{``, ``{"rule": {``, ``"a": 1,``)."""
    text = line.strip()
    return text[:1] == b"{" and text[-1:] in (b"{", b"[", b",")


def _documents(handle) -> object:
    """(line number, alert text or the AlertError that replaces it), one per alert.

    Line-delimited input (``alerts.json``) is read line by line, so a bad line costs only
    itself. Input whose first non-blank line opens an unfinished object is pretty-printed:
    it is read whole, as one alert or several in a row, and a syntax error ends it.
    """
    from wazuh_ocsf.errors import AlertError

    number = 0
    for line in handle:
        number += 1
        if line.strip():
            break
    else:
        return
    if _opens_a_document(line):
        try:
            text = (line + handle.read()).decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, AlertError(f"input is not valid UTF-8: {exc.reason} at byte {exc.start}")
            return
        decoder = json.JSONDecoder()
        position, first_line = 0, number
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position == len(text):
                return
            start = first_line + text.count("\n", 0, position)
            try:
                _value, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                line_number = exc.lineno + first_line - 1
                yield start, AlertError(
                    f"alert is not valid JSON: {exc.msg} at line {line_number} column {exc.colno}; input ends here"
                )
                return
            except RecursionError:
                yield start, AlertError("alert is nested too deeply to decode; input ends here")
                return
            yield start, text[position:end]
            position = end
    yield number, line
    for line in handle:
        number += 1
        if line.strip():
            yield number, line


def _write(out, event: dict) -> None:
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    out.write(text.encode("utf-8", "replace") + b"\n")


def run(args: argparse.Namespace) -> int:
    """Map every alert of the input; 0 when all mapped, 1 when any failed."""
    from wazuh_ocsf.errors import AlertError
    from wazuh_ocsf.mapping import load_alert, map_alert
    from wazuh_ocsf.mapping.routing import route

    finding_class, routes, product_version, attack_version = _settings(args)
    name = "<stdin>" if args.input == "-" else args.input
    try:
        handle = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"ERROR: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    out = sys.stdout.buffer
    mapped = failed = 0
    try:
        for number, document in _documents(handle):
            try:
                if isinstance(document, AlertError):
                    raise document
                alert = load_alert(document)
                event = map_alert(
                    alert,
                    class_uid=finding_class if routes is None else route(alert, finding_class, routes),
                    product_version=product_version,
                    attack_version=attack_version,
                )
            except AlertError as exc:
                failed += 1
                print(f"ERROR: {name}:{number}: {exc}", file=sys.stderr)
                continue
            _write(out, event)
            mapped += 1
        out.flush()
    except BrokenPipeError:  # `wazuh-ocsf map … | head`: the reader has all it wants
        sys.stdout = None
        return EXIT_OK
    except OSError as exc:
        print(f"ERROR: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if failed:
        print(f"ERROR: {failed} of {mapped + failed} alerts could not be mapped", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
