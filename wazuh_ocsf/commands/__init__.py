"""The ``wazuh-ocsf`` subcommands, one module each.

Each module has ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
:data:`COMMANDS` is the registry the CLI builds its parser from; a test fails when a module
in this package is missing from it.
"""

COMMANDS = {
    "backfill": "wazuh_ocsf.commands.backfill",
    "create-source": "wazuh_ocsf.commands.create_source",
    "dead-letter": "wazuh_ocsf.commands.dead_letter",
    "demo": "wazuh_ocsf.commands.demo",
    "doctor": "wazuh_ocsf.commands.doctor",
    "flush": "wazuh_ocsf.commands.flush",
    "follow": "wazuh_ocsf.commands.follow",
    "map": "wazuh_ocsf.commands.map",
    "status": "wazuh_ocsf.commands.status",
}
