"""``wazuh-ocsf flush``: deliver every spooled event now (the scheduled job runs the same)."""

from __future__ import annotations

import argparse
import json
import logging

HELP = "seal the spool and deliver every spooled event as Parquet to the configured sinks"

EXIT_LEFT_UNSENT = 1
SINK_MODULES = ("wazuh_ocsf.sinks.local", "wazuh_ocsf.sinks.s3", "wazuh_ocsf.sinks.http")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--output-dir DIR`` and ``--json``."""
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="also write the Security Lake partition tree below DIR (the local sink; "
        "default: WAZUH_OCSF_OUTPUT_DIR)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Flush; print a one-line summary; exit 1 when anything was left unsent."""
    from wazuh_ocsf import logfile
    from wazuh_ocsf.errors import SpoolBusyError, WazuhOcsfError
    from wazuh_ocsf.flush import state as flush_state
    from wazuh_ocsf.flush.flusher import flush
    from wazuh_ocsf.privileges import become_spool_owner, load_settings_safely
    from wazuh_ocsf.redact import redact, secrets_of
    from wazuh_ocsf.sinks.registry import build_sinks

    # Started as root with a config file the wazuh user can change: read it as that user.
    settings = load_settings_safely(args.config, preload=SINK_MODULES)
    secrets = secrets_of(settings)
    try:
        sinks = build_sinks(settings, args.output_dir)  # imports every module the flush needs
    except WazuhOcsfError as exc:
        # A flush that cannot even start (no destination, a sink that cannot be set up) is
        # still a failed flush: status must show it.
        become_spool_owner(settings.spool_dir)
        flush_state.record_failure(settings.spool_dir, str(exc), secrets=secrets)
        raise
    # Started as root: become the spool's owner before anything is written. Everything is
    # imported first, so the new user need not be able to read root's Python installation.
    become_spool_owner(settings.spool_dir)
    logfile.configure(settings, "flush")
    try:
        result = flush(settings, sinks)
    except SpoolBusyError:
        raise  # another flusher is at work: not an outcome of this pipeline
    except WazuhOcsfError as exc:
        logging.getLogger("wazuh_ocsf.flush").error("flush failed: %s", exc)
        flush_state.record_failure(settings.spool_dir, str(exc), secrets=secrets)
        raise
    flush_state.record_result(settings.spool_dir, result, secrets=secrets)
    if args.json:
        data = result.to_dict()
        data["failures"] = [redact(failure, secrets) for failure in data["failures"]]
        print(json.dumps(data, sort_keys=True))
    else:
        print(result.summary())  # each failure was logged (stderr and the log file) as it happened
    return 0 if result.ok else EXIT_LEFT_UNSENT
