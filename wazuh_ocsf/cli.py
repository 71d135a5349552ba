"""The ``wazuh-ocsf`` command line: a thin layer over the library.

Subcommands live in :mod:`wazuh_ocsf.commands`, one module each. This is the one place
where library exceptions become an ``ERROR: …`` line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from wazuh_ocsf import __version__
from wazuh_ocsf.commands import COMMANDS
from wazuh_ocsf.errors import ConfigError, SpoolBusyError, WazuhOcsfError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_BUSY = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog="wazuh-ocsf", description="Ship Wazuh alerts to Amazon Security Lake as OCSF Parquet."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $WAZUH_OCSF_CONFIG, else <wazuh home>/etc/wazuh-ocsf.conf)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status. Errors become one ``ERROR:`` line on stderr."""
    try:
        args = build_parser().parse_args(argv)  # --help may meet a reader that went away too
        if args.config is not None and not os.path.isfile(args.config):
            raise ConfigError("--config", f"{args.config} does not exist (or is not a file)")
        code = args.run(args)
        sys.stdout.flush()  # a reader that went away (`status | head -1`) is met here, not at exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        print(f"ERROR: configuration: {_public(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except SpoolBusyError as exc:
        print(f"ERROR: {_public(exc)}", file=sys.stderr)
        return EXIT_BUSY
    except WazuhOcsfError as exc:
        print(f"ERROR: {_public(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ERROR: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _public(exc: BaseException) -> str:
    """An error's message with every URL's credentials and query string removed."""
    from wazuh_ocsf.redact import redact

    return redact(str(exc), ())


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
