"""``wazuh-ocsf create-source``: register the Security Lake custom source and write its settings."""

from __future__ import annotations

import argparse
import json
import sys

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
    crawler = parser.add_mutually_exclusive_group(required=True)
    crawler.add_argument(
        "--crawler-role-arn", metavar="ARN",
        help="IAM role the Glue crawler runs as (AWSGlueServiceRole and access to the lake bucket)",
    )
    crawler.add_argument(
        "--create-glue-role", metavar="NAME", nargs="?", const="",
        help="create (or reuse, when it trusts Glue) the crawler's role, least privilege: read of the source's "
        "prefix only (default name: wazuh-ocsf-glue-<source>-<region>)",
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
    parser.add_argument(
        "--dry-run", action="store_true",
        help="print every IAM and Security Lake request with its policy documents (external id masked); send nothing",
    )
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
    """Create one source per class, then update the config file with each one's location and
    provider role, the bucket and the external id."""
    import secrets

    from wazuh_ocsf.config import CLASS_NAMES, default_source_name
    from wazuh_ocsf.config_file import update_settings
    from wazuh_ocsf.errors import ConfigError
    from wazuh_ocsf.lake import custom_source as security_lake
    from wazuh_ocsf.privileges import load_settings_staying_root

    # As root, settings come only from files no other account can change, or the environment.
    settings, config_path, skipped = load_settings_staying_root(args.config)
    if skipped:
        print(f"note: running as root, settings in {config_path} are not read ({skipped}): "
              "give them as WAZUH_OCSF_* environment variables", file=sys.stderr)
    if not settings.region:
        raise ConfigError("WAZUH_OCSF_REGION", "required: Security Lake custom sources are regional")
    classes = _classes(args, settings)
    external_id = args.external_id or settings.external_id or secrets.token_hex(16)
    principal = args.principal or (None if args.dry_run else _caller_account(settings))
    sources = [
        (class_uid, args.source_name or settings.destination_source(class_uid) or default_source_name(class_uid))
        for class_uid in classes
    ]
    if args.create_glue_role and len(sources) > 1:
        raise ConfigError("--create-glue-role", "NAME names one role, for one source: leave it out with several "
                          "classes (each source gets its own role, wazuh-ocsf-glue-<source>-<region>)")
    if args.dry_run:
        _print_dry_run(args, settings, sources, principal)
        return 0
    client = security_lake.make_client(settings.region)
    results = []
    for class_uid, source_name in sources:
        crawler_role_arn, crawler_role = args.crawler_role_arn, "given"
        if args.create_glue_role is not None:
            crawler_role_arn, crawler_role = _ensure_glue_role(args, settings, source_name, client)
        params = _source_request(args, class_uid, source_name, crawler_role_arn, principal, external_id)
        if crawler_role == "created":
            created = security_lake.create_custom_source_for_new_role(client, params)
        else:
            created = security_lake.create_custom_source(client, params)
        values = security_lake.settings_to_write(created, class_uid, external_id, finding_class=settings.ocsf_class)
        written = update_settings(config_path, values)
        results.append((class_uid, created, written, crawler_role_arn, crawler_role))
    for class_uid, created, written, crawler_role_arn, crawler_role in results:
        if args.json:
            print(json.dumps({
                **created, "class": CLASS_NAMES[class_uid], "config_path": config_path,
                "crawler_role_arn": crawler_role_arn, "crawler_role": crawler_role,
            }))
            continue
        if crawler_role != "given":
            print(f"{crawler_role} the Glue crawler role {crawler_role_arn}")
        print(f"created custom source {created['source_name']} ({CLASS_NAMES[class_uid]}): {created['location']}")
        print(f"provider role: {created['role_arn']}")
        print(f"updated {config_path}: " + ", ".join(w.split("=", 1)[0] for w in written))
    if not args.json:
        print("next: `wazuh-ocsf doctor --probe` to prove the flusher can write there, and after the first flush "
              "and crawl `wazuh-ocsf doctor --lake` to check the source, crawler and table")
    return 0


def _source_request(args, class_uid: int, source_name: str, crawler_role_arn, principal: str, external_id: str) -> dict:
    """The CreateCustomLogSource parameters of one class's source (the run's and the dry run's)."""
    from wazuh_ocsf.lake import custom_source as security_lake

    return security_lake.request_for(
        source_name=source_name,
        class_uid=class_uid,
        crawler_role_arn=crawler_role_arn,
        principal=principal,
        external_id=external_id,
        source_version=args.source_version,
    )


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


def _glue_role_spec(args, settings, source_name: str, lake: dict):
    """The crawler role of one source (one per source, so per class once classes route to sources)."""
    from wazuh_ocsf.lake import glue_role

    return glue_role.RoleSpec(
        role_name=args.create_glue_role or glue_role.default_role_name(source_name, settings.region),
        source_name=source_name,
        region=settings.region,
        bucket=lake["bucket"],
        kms_key_arn=glue_role.kms_key_arn(lake["kms_key_id"], region=settings.region, account=lake["account"]),
    )


def _ensure_glue_role(args, settings, source_name: str, client) -> tuple:
    """Find the lake's bucket and key, then create or reuse the crawler role; ``(ARN, outcome)``."""
    import boto3

    from wazuh_ocsf.lake import custom_source as security_lake
    from wazuh_ocsf.lake import glue_role

    spec = _glue_role_spec(args, settings, source_name, security_lake.data_lake(client, settings.region))
    iam = boto3.Session(region_name=settings.region).client("iam", region_name=settings.region)
    return glue_role.ensure_role(iam, spec)


def _print_dry_run(args, settings, sources: list, principal) -> None:
    """Print every request the real run would send, in order, as one JSON object; send nothing."""
    from wazuh_ocsf.lake import glue_role
    from wazuh_ocsf.lake.glue_role import Request

    requests, notes = [], []
    for class_uid, source_name in sources:
        crawler_role_arn = args.crawler_role_arn
        if args.create_glue_role is not None:
            requests.append(Request("securitylake", "ListDataLakes", {"regions": [settings.region]}))
            bucket = settings.bucket or f"aws-security-data-lake-{settings.region}-<id from ListDataLakes>"
            spec = _glue_role_spec(args, settings, source_name, {"bucket": bucket, "kms_key_id": None, "account": ""})
            requests.append(Request("iam", "GetRole", {"RoleName": spec.role_name}))
            requests.extend(glue_role.role_requests(spec))
            crawler_role_arn = glue_role.role_arn(spec, "<the caller's account>")
            if not notes:
                notes.append(
                    f"the bucket is ListDataLakes' (shown: {bucket}); when the lake uses a customer managed KMS key "
                    "the read policy also allows kms:Decrypt on it; CreateRole is skipped when GetRole finds a role "
                    "that trusts Glue"
                )
        params = _source_request(
            args, class_uid, source_name, crawler_role_arn, principal or "<the caller's account>", "****"
        )
        requests.append(Request("securitylake", "CreateCustomLogSource", params))
    print(json.dumps({"requests": [r.to_dict() for r in requests], "notes": notes}, indent=1))
