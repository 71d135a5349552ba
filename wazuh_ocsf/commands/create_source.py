"""``wazuh-ocsf create-source``: register the Security Lake custom source and write its settings."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "register the Security Lake custom source (CreateCustomLogSource) and save its role and location"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source name, class, crawler role, principal, external id, version, ``--dry-run``."""
    parser.add_argument(
        "--source-name", metavar="NAME", help="custom source name, at most 20 characters (default: the configured "
        "source of the class, else wazuh)"
    )
    parser.add_argument(
        "--class", dest="ocsf_class", metavar="CLASS",
        help="security_finding or detection_finding (default: WAZUH_OCSF_OCSF_CLASS)",
    )
    parser.add_argument(
        "--crawler-role-arn", metavar="ARN", required=True,
        help="IAM role the Glue crawler runs as (AWSGlueServiceRole and access to the lake bucket)",
    )
    parser.add_argument(
        "--principal", metavar="ACCOUNT",
        help="AWS account that will assume the provider role (default: the account of the current credentials)",
    )
    parser.add_argument(
        "--external-id", metavar="ID",
        help="external id the provider role will require (default: WAZUH_OCSF_EXTERNAL_ID, else a new random one)",
    )
    parser.add_argument("--source-version", metavar="VERSION", help="optional source version, e.g. 1.0")
    parser.add_argument("--dry-run", action="store_true", help="print the request (external id masked); send nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Create the source, then update the config file with role ARN, location, bucket and external id."""
    import secrets

    from wazuh_ocsf import security_lake
    from wazuh_ocsf.config import CLASS_NAMES, parse_class
    from wazuh_ocsf.config_file import update_settings
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.privileges import load_settings_staying_root

    # As root, settings come only from files no other account can change, or the environment.
    settings, config_path, skipped = load_settings_staying_root(args.config)
    if skipped:
        print(f"note: running as root, settings in {config_path} are not read ({skipped}): "
              "give them as WAZUH_OCSF_* environment variables", file=sys.stderr)
    if not settings.region:
        raise ConfigError("WAZUH_OCSF_REGION", "required: Security Lake custom sources are regional")
    try:
        class_uid = parse_class(args.ocsf_class) if args.ocsf_class else settings.ocsf_class
    except ValueError as exc:
        raise ConfigError("--class", str(exc)) from None
    source_name = args.source_name or settings.destination_source(class_uid) or "wazuh"
    external_id = args.external_id or settings.external_id or secrets.token_hex(16)
    principal = args.principal or (None if args.dry_run else _caller_account(settings))
    params = security_lake.request_for(
        source_name=source_name,
        class_uid=class_uid,
        crawler_role_arn=args.crawler_role_arn,
        principal=principal or "<the caller's account>",
        external_id=external_id,
        source_version=args.source_version,
    )
    if args.dry_run:
        params["configuration"]["providerIdentity"]["externalId"] = "****"
        print(json.dumps(params, indent=1))
        return 0
    created = security_lake.create_custom_source(security_lake.make_client(settings.region), params)
    written = update_settings(config_path, security_lake.settings_to_write(created, class_uid, external_id))
    if args.json:
        print(json.dumps({**created, "class": CLASS_NAMES[class_uid], "config_path": config_path}))
    else:
        print(f"created custom source {source_name} ({CLASS_NAMES[class_uid]}): {created['location']}")
        print(f"provider role: {created['role_arn']}")
        print(f"updated {config_path}: " + ", ".join(w.split("=", 1)[0] for w in written))
        print("next: `wazuh-ocsf doctor --probe` to prove the flusher can write there")
    return 0


def _caller_account(settings) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from wazuh_ocsf.errors import ConfigError

    try:
        sts = boto3.Session(region_name=settings.region).client(
            "sts", region_name=settings.region, endpoint_url=settings.sts_endpoint_url
        )
        return sts.get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError("--principal", f"not given, and the caller's account is unknown ({exc})") from None
