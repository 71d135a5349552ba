"""``wazuh-ocsf create-source``: register the Security Lake custom source and write its settings."""

from __future__ import annotations

import argparse
import json

HELP = "register the Security Lake custom source (CreateCustomLogSource) and save its role and location"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source name, class, crawler role, principal, external id, version, ``--dry-run``."""
    parser.add_argument(
        "--source-name", metavar="NAME", help="custom source name, at most 20 characters, for one class (default: "
        "the configured source of the class, else wazuh, or wazuh-<class> for a routed class)"
    )
    parser.add_argument(
        "--class", dest="ocsf_class", metavar="CLASS", action="append",
        help="security_finding, detection_finding, vulnerability_finding, compliance_finding, file_activity, "
        "authentication, or all (the finding class and the four routed classes); repeatable; one custom source "
        "each (default: the finding class of WAZUH_OCSF_OCSF_CLASS)",
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


def _classes(args: argparse.Namespace, settings) -> list:
    """The classes asked for, in order, once each; ``all``: the finding class and the routed ones."""
    from wazuh_ocsf.config import ROUTED_CLASSES, parse_any_class
    from wazuh_ocsf.errors import ConfigError

    classes = []
    for word in args.ocsf_class or [str(settings.ocsf_class)]:
        try:
            found = [settings.ocsf_class, *ROUTED_CLASSES] if word.strip().lower() == "all" else [parse_any_class(word)]
        except ValueError as exc:
            raise ConfigError("--class", f"{exc}, or all (got {word!r})") from None
        classes += [class_uid for class_uid in found if class_uid not in classes]
    if args.source_name and len(classes) > 1:
        raise ConfigError("--source-name", "names one source: with several classes each takes its configured source "
                          "or the default name (wazuh, wazuh-<class>)")
    return classes


def run(args: argparse.Namespace) -> int:
    """Create one source per class, then update the config file with their locations (and the
    first one's role ARN), bucket and external id."""
    import secrets

    from wazuh_ocsf import security_lake
    from wazuh_ocsf.config import CLASS_NAMES, default_source_name, load_settings
    from wazuh_ocsf.config_file import update_settings
    from wazuh_ocsf.errors import ConfigError

    settings = load_settings(path=args.config)
    if not settings.region:
        raise ConfigError("WAZUH_OCSF_REGION", "required: Security Lake custom sources are regional")
    classes = _classes(args, settings)
    external_id = args.external_id or settings.external_id or secrets.token_hex(16)
    principal = args.principal or (None if args.dry_run else _caller_account(settings))
    requests = []
    for class_uid in classes:
        source_name = args.source_name or settings.destination_source(class_uid) or default_source_name(class_uid)
        requests.append((class_uid, security_lake.request_for(
            source_name=source_name,
            class_uid=class_uid,
            crawler_role_arn=args.crawler_role_arn,
            principal=principal or "<the caller's account>",
            external_id=external_id,
            source_version=args.source_version,
        )))
    if args.dry_run:
        for _class_uid, params in requests:
            params["configuration"]["providerIdentity"]["externalId"] = "****"
            print(json.dumps(params, indent=1))
        return 0
    client = security_lake.make_client(settings.region)
    results = []
    for class_uid, params in requests:
        created = security_lake.create_custom_source(client, params)
        values = security_lake.settings_to_write(created, class_uid, external_id)
        if results:  # each source has its own provider role: the config keeps the first one's
            del values["role_arn"]
        written = update_settings(settings.config_path, values)
        results.append((class_uid, created, written))
    for class_uid, created, written in results:
        if args.json:
            print(json.dumps({**created, "class": CLASS_NAMES[class_uid], "config_path": settings.config_path}))
            continue
        print(f"created custom source {created['source_name']} ({CLASS_NAMES[class_uid]}): {created['location']}")
        print(f"provider role: {created['role_arn']}")
        print(f"updated {settings.config_path}: " + ", ".join(w.split("=", 1)[0] for w in written))
    if not args.json:
        if len(results) > 1:
            print(f"WAZUH_OCSF_ROLE_ARN is {results[0][1]['role_arn']}: it must also be allowed to write to the other "
                  "sources' locations (README, Routing: registering the routed classes' sources)")
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
