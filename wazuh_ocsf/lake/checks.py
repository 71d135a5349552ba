"""``wazuh-ocsf doctor --lake``: the lake side of each configured class, checked read-only.

Per OCSF class that has a destination, in the order a new source goes through them:

1. **custom source**: Security Lake lists a custom source of that name in the region
   (``ListLogSources``), whose location and provider role are the ones the flusher uses;
2. **provider role trust**: the provider role trusts the writer's account with the configured
   external id (``iam:GetRole``; the external id is compared, never printed);
3. **glue crawler**: the source's crawler exists, crawls the source's location, and its last
   run succeeded (``glue:GetCrawler``);
4. **glue table**: the table the crawler made exists in Security Lake's database, and every
   column of our Arrow schema is in it with a type Athena can read our Parquet as
   (``glue:GetTable``, :mod:`wazuh_ocsf.lake.glue_schema`);
5. **latest partition**: the newest ``eventDay`` partition is recent (``glue:GetPartitions``).

Each check is a :class:`wazuh_ocsf.operations.doctor.Check` with the fix when it is not ok. The calls are
all List/Get: a read-only identity runs them (README lists the policy). The clients use the
default credential chain, the lake admin's, not the provider role. Names come from the
source's ``attributes`` (crawler, database and table ARNs) when Security Lake gives them,
else from Security Lake's naming (crawler = source name, database
``amazon_security_lake_glue_db_<region>``, table ``amazon_security_lake_table_<region>_ext_<source>``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from wazuh_ocsf.config import CLASS_NAMES
from wazuh_ocsf.operations.doctor import FAIL, OK, SKIP, WARN, Check, Context, _aws_error, check_config

#: A partition older than this many days makes the latest-partition check warn.
STALE_DAYS = 2
MAX_PROBLEMS_SHOWN = 8


def glue_database(region: str) -> str:
    """Security Lake's Glue database in ``region``."""
    return "amazon_security_lake_glue_db_" + region.replace("-", "_")


def glue_table(region: str, source_name: str) -> str:
    """The Glue table Security Lake names for a custom source (lower case, as Glue stores names)."""
    return f"amazon_security_lake_table_{region.replace('-', '_')}_ext_{source_name}".replace("-", "_").lower()


@dataclass
class Source:
    """One class's custom source as the checks learn it."""

    class_uid: int
    name: str
    prefix: str
    found: dict | None = None  # ListLogSources' customLogSource
    crawler: str = ""
    database: str = ""
    table: str = ""
    partition_keys: list = field(default_factory=list)  # of its Glue table

    @property
    def label(self) -> str:
        return CLASS_NAMES[self.class_uid]


def _client(ctx: Context, service: str):
    """One client per service on the default credential chain; endpoints as boto3 resolves them
    (``AWS_ENDPOINT_URL_<SERVICE>`` included)."""
    import boto3
    from botocore.config import Config

    from wazuh_ocsf.lake import custom_source as security_lake

    clients = ctx.aws.setdefault("lake_clients", {})
    if service not in clients:
        if service == "securitylake":
            clients[service] = security_lake.make_client(ctx.settings.region)
        else:
            config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=10, read_timeout=30)
            session = ctx.aws.setdefault("lake_session", boto3.Session(region_name=ctx.settings.region))
            clients[service] = session.client(service, region_name=ctx.settings.region, config=config)
    return clients[service]


def _sources(ctx: Context) -> list:
    settings = ctx.settings
    sources = []
    for class_uid in sorted(CLASS_NAMES):
        prefix = settings.destination_prefix(class_uid)
        if prefix is None:
            continue
        name = settings.destination_source(class_uid)
        if not name and prefix.startswith("ext/"):
            name = prefix.split("/")[1]
        sources.append(Source(class_uid, name or "", prefix))
    return sources


def _arn_name(arn: str | None, kind: str) -> str:
    """The resource name of a Glue ARN (``…:crawler/wazuh`` → ``wazuh``), or ""."""
    marker = f":{kind}/"
    return arn.split(marker, 1)[1] if arn and marker in arn else ""


def _location_prefix(location: str) -> str:
    """``s3://bucket/ext/wazuh/`` → ``ext/wazuh/``."""
    rest = location[5:] if location.startswith("s3://") else location
    return rest.split("/", 1)[1].strip("/") + "/" if "/" in rest else ""


def _failure(name: str, call: str, exc: Exception, permission: str, otherwise: str = "see the message") -> Check:
    """The failed check for an AWS call that raised ``exc``, with the permission to grant when denied."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return Check(name, FAIL, f"{call}: cannot reach the service: {exc}", "check the network, proxy and region")
    code, message = _aws_error(exc)
    return Check(name, FAIL, f"{call}: {code}: {message}",
                 f"the identity needs {permission}" if _denied(code) else otherwise)


def _not_found(exc: Exception) -> bool:
    return _aws_error(exc)[0] in ("EntityNotFoundException", "NoSuchEntity")


def _denied(code: str) -> bool:
    # "403": the status code, when an error body botocore cannot parse hides the error code
    return code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")


# -- the checks -------------------------------------------------------------------------------------


def check_source(ctx: Context, source: Source) -> Check:
    """The custom source exists in this region, with the location and provider role we use."""
    from botocore.exceptions import BotoCoreError, ClientError

    from wazuh_ocsf.lake import custom_source as security_lake

    name = f"custom source ({source.label})"
    settings = ctx.settings
    if "lake_sources" not in ctx.aws:  # one ListLogSources for every class
        try:
            ctx.aws["lake_sources"] = security_lake.custom_sources(_client(ctx, "securitylake"), settings.region)
        except (ClientError, BotoCoreError) as exc:
            ctx.aws["lake_sources"] = _failure(
                name, f"ListLogSources {settings.region}", exc,
                "securitylake:ListLogSources; run as the Security Lake delegated administrator",
                "is Security Lake enabled in this region and account?",
            )
    if isinstance(ctx.aws["lake_sources"], Check):
        return Check(name, FAIL, ctx.aws["lake_sources"].detail, ctx.aws["lake_sources"].fix)
    found = ctx.aws["lake_sources"].get(source.name)
    if found is None:
        known = ", ".join(sorted(ctx.aws["lake_sources"])) or "none"
        return Check(
            name, FAIL,
            f"no custom source named {source.name} in {settings.region} (custom sources there: {known})",
            f"wazuh-ocsf create-source --class {source.label} --source-name {source.name} --create-glue-role, "
            "or correct the source name in the config",
        )
    source.found = found
    attributes = found.get("attributes") or {}
    source.crawler = _arn_name(attributes.get("crawlerArn"), "crawler") or source.name
    source.database = _arn_name(attributes.get("databaseArn"), "database") or glue_database(settings.region)
    source.table = _arn_name(attributes.get("tableArn"), "table") or glue_table(settings.region, source.name)
    provider = found.get("provider") or {}
    location, role = provider.get("location", ""), provider.get("roleArn", "")
    problems = []
    if location and _location_prefix(location) != source.prefix:
        problems.append(f"its location is {location} but the flusher writes under {source.prefix}")
    if location and settings.bucket and location[5:].split("/", 1)[0] != settings.bucket:
        problems.append(f"its bucket is {location[5:].split('/', 1)[0]}, WAZUH_OCSF_BUCKET is {settings.bucket}")
    writer = settings.destination_role(source.class_uid)
    if role and writer and role != writer:
        own = getattr(settings, f"{source.label}_role_arn")
        setting = f"WAZUH_OCSF_{source.label.upper()}_ROLE_ARN" if own else "WAZUH_OCSF_ROLE_ARN"
        problems.append(f"its provider role is {role}, the flusher assumes {writer} ({setting})")
    if problems:
        return Check(name, FAIL, f"{source.name}: " + "; ".join(problems),
                     f"set WAZUH_OCSF_{source.label.upper()}_LOCATION, WAZUH_OCSF_BUCKET and "
                     f"WAZUH_OCSF_{source.label.upper()}_ROLE_ARN to the source's values (the Security Lake "
                     "console's custom source page shows them)")
    return Check(name, OK, f"{source.name} in {settings.region} (account {found.get('account') or '?'}): {location}, "
                           f"provider role {role}")


def check_provider_trust(ctx: Context, source: Source) -> Check:
    """The provider role trusts the writer's account, with the configured external id."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"provider role trust ({source.label})"
    settings = ctx.settings
    if source.found is None:
        return Check(name, SKIP, "no custom source (see above)")
    role_arn = (source.found.get("provider") or {}).get("roleArn") or settings.destination_role(source.class_uid)
    if not role_arn:
        return Check(name, SKIP, "the source names no provider role")
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        document = _client(ctx, "iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    except (ClientError, BotoCoreError) as exc:
        return _failure(name, f"GetRole {role_name}", exc, "iam:GetRole on the role", "re-create the custom source")
    principals, external_ids = _assume_role_grants(document)
    if not principals:
        return Check(name, FAIL, f"{role_arn} lets no AWS principal assume it",
                     "re-create the custom source with the writer's account as principal")
    shown = ", ".join(sorted(principals))
    if settings.external_id and external_ids and settings.external_id not in external_ids:
        return Check(name, FAIL, f"{role_arn} trusts {shown} with another external id than WAZUH_OCSF_EXTERNAL_ID",
                     "set WAZUH_OCSF_EXTERNAL_ID to the external id the custom source was created with")
    if not external_ids:
        return Check(name, WARN, f"{role_arn} trusts {shown} without an external id: any identity there allowed "
                                 "sts:AssumeRole may write to the source",
                     "re-create the custom source (Security Lake's provider roles require the external id given)")
    if not settings.external_id and external_ids:
        return Check(name, FAIL, f"{role_arn} requires an external id; WAZUH_OCSF_EXTERNAL_ID is not set",
                     "set WAZUH_OCSF_EXTERNAL_ID to the custom source's external id")
    account = settings.account_id if settings.account_id and settings.account_id.isdigit() else None
    if account and not any(account in principal for principal in principals):
        return Check(name, WARN, f"{role_arn} trusts {shown}, not ACCOUNT_ID {account}",
                     "the writer must be in a trusted account: if it is in another, that is fine; else re-create "
                     "the source with --principal set to the writer's account")
    return Check(name, OK, f"{role_arn} trusts {shown} with the configured external id")


def _assume_role_grants(document) -> tuple:
    """``({principal, …}, {external id, …})`` of the Allow sts:AssumeRole statements of a trust policy."""
    from wazuh_ocsf.lake.glue_role import assume_role_statements

    principals, external_ids = set(), set()
    for principal, condition in assume_role_statements(document):
        principals.update(principal.get("AWS", []))
        for test in ("StringEquals", "StringLike"):
            value = condition.get(test, {}).get("sts:ExternalId")
            if value:
                external_ids.update([value] if isinstance(value, str) else value)
    return principals, external_ids


def check_crawler(ctx: Context, source: Source) -> Check:
    """The source's Glue crawler exists, crawls the source's location, and its last run succeeded."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"glue crawler ({source.label})"
    if source.found is None:
        return Check(name, SKIP, "no custom source (see above)")
    try:
        crawler = _client(ctx, "glue").get_crawler(Name=source.crawler)["Crawler"]
    except (ClientError, BotoCoreError) as exc:
        if _not_found(exc):
            return Check(name, FAIL, f"the source's crawler {source.crawler} does not exist",
                         "delete and re-create the custom source (Security Lake creates the crawler)")
        return _failure(name, f"GetCrawler {source.crawler}", exc, "glue:GetCrawler")
    paths = [t.get("Path", "") for t in (crawler.get("Targets") or {}).get("S3Targets", [])]
    if paths and not any(_location_prefix(path).startswith(source.prefix) or source.prefix.startswith(
            _location_prefix(path)) for path in paths):
        return Check(name, FAIL, f"{source.crawler} crawls {', '.join(paths)}, not {source.prefix}",
                     "re-create the custom source so that its crawler and location agree")
    last = crawler.get("LastCrawl") or {}
    status, state = last.get("Status"), crawler.get("State", "?")
    run_fix = f"aws glue start-crawler --name {source.crawler} (or Glue console → Crawlers → Run)"
    if not status:
        return Check(name, WARN, f"{source.crawler} ({state}) has never run, so there is no table to query yet",
                     f"after the first flush: {run_fix}")
    when = _utc_minute(last.get("StartTime"))
    if status == "CANCELLED":
        return Check(name, WARN, f"{source.crawler}: last crawl{when} was cancelled", run_fix)
    if status != "SUCCEEDED":
        message = last.get("ErrorMessage") or "no error message"
        return Check(name, FAIL, f"{source.crawler}: last crawl{when} {status}: {message}",
                     f"the crawler role ({crawler.get('Role', '?')}) needs s3:GetObject under {source.prefix} and "
                     "kms:Decrypt on the lake's key (create-source --create-glue-role makes such a role); the "
                     f"crawler's CloudWatch log (/aws-glue/crawlers) has the details; then {run_fix}")
    return Check(name, OK, f"{source.crawler} ({state}): last crawl{when} succeeded")


def _utc_minute(moment) -> str:
    """`` at YYYY-MM-DD HH:MM UTC`` of a datetime (botocore gives them in local time), or ""."""
    import datetime

    if not isinstance(moment, datetime.datetime):
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return f" at {moment:%Y-%m-%d %H:%M} UTC"


def check_table(ctx: Context, source: Source) -> Check:
    """The source's table exists, and every column of our schema is in it with a readable type."""
    from botocore.exceptions import BotoCoreError, ClientError

    from wazuh_ocsf.flush.arrow_schema import schema_for
    from wazuh_ocsf.lake.glue_schema import compare

    name = f"glue table ({source.label})"
    if source.found is None:
        return Check(name, SKIP, "no custom source (see above)")
    where = f"{source.database}.{source.table}"
    try:
        table = _client(ctx, "glue").get_table(DatabaseName=source.database, Name=source.table)["Table"]
    except (ClientError, BotoCoreError) as exc:
        if _not_found(exc):
            return Check(name, FAIL, f"{where} does not exist: the crawler makes it on its first run after objects "
                                     "arrive", f"flush, then aws glue start-crawler --name {source.crawler}")
        return _failure(name, f"GetTable {where}", exc, "glue:GetTable, and Lake Formation DESCRIBE on the table")
    columns = (table.get("StorageDescriptor") or {}).get("Columns", [])
    partitions = table.get("PartitionKeys", [])
    source.partition_keys = partitions
    problems = compare(schema_for(source.class_uid), columns, partitions)
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        hint = _other_class_hint(source, {c["Name"].lower() for c in columns})
        return Check(
            name, FAIL, f"{where}: {len(problems)} column(s) Athena cannot read as we write them: {shown}{more}{hint}",
            f"re-run the crawler (aws glue start-crawler --name {source.crawler}) so it re-infers the table from "
            "the objects; if the table was edited by hand, or other objects share the prefix, fix those first",
        )
    return Check(name, OK, f"{where}: {len(columns)} columns and partitions "
                           f"{', '.join(p['Name'] for p in partitions)}; every column of ours is readable")


def _other_class_hint(source: Source, columns: set) -> str:
    """A hint when the table's columns are another class's: the class whose top-level columns
    match the table's best, when that is not ours."""
    from wazuh_ocsf.flush.arrow_schema import schema_for

    def fit(class_uid: int) -> int:
        names = {name.lower() for name in schema_for(class_uid).names}
        return len(columns & names) - len(columns ^ names)

    best = max(CLASS_NAMES, key=fit)
    if best == source.class_uid or fit(best) <= fit(source.class_uid):
        return ""
    return (f"; the table's columns are those of {CLASS_NAMES[best]}, not {CLASS_NAMES[source.class_uid]}: "
            "objects of another class reach this source")


def check_partitions(ctx: Context, source: Source) -> Check:
    """The newest ``eventDay`` partition of the table is at most ``STALE_DAYS`` days old."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"latest partition ({source.label})"
    if source.found is None or not source.partition_keys:
        return Check(name, SKIP, "no table (see above)")
    keys = [c["Name"].lower() for c in source.partition_keys]
    if "eventday" not in keys:
        return Check(name, SKIP, "the table has no eventday partition key (see above)")
    index = keys.index("eventday")
    days = []
    try:
        pages = _client(ctx, "glue").get_paginator("get_partitions").paginate(
            DatabaseName=source.database, TableName=source.table
        )
        for page in pages:
            days.extend(p["Values"][index] for p in page.get("Partitions", []) if len(p.get("Values", [])) > index)
    except (ClientError, BotoCoreError) as exc:
        return _failure(name, f"GetPartitions {source.database}.{source.table}", exc, "glue:GetPartitions")
    if not days:
        return Check(name, WARN, f"{source.table} has no partitions: nothing crawled yet",
                     f"flush, then aws glue start-crawler --name {source.crawler}")
    latest = max(days)
    today = time.strftime("%Y%m%d", time.gmtime())
    age = _days_between(latest, today)
    if age is None or age > STALE_DAYS:
        return Check(name, WARN, f"eventDay={latest} is the newest of {len(days)} partitions (today is {today})",
                     f"is the flush running (wazuh-ocsf status)? Is the crawler scheduled? aws glue start-crawler "
                     f"--name {source.crawler}")
    return Check(name, OK, f"eventDay={latest} is the newest of {len(days)} partitions")


def _days_between(first: str, second: str) -> int | None:
    import datetime

    try:
        a = datetime.datetime.strptime(first, "%Y%m%d")
        b = datetime.datetime.strptime(second, "%Y%m%d")
    except ValueError:
        return None
    return (b - a).days


PER_SOURCE = (check_source, check_provider_trust, check_crawler, check_table, check_partitions)


def run_lake_checks(ctx: Context) -> list:
    """The config check, then every per-source check for each class with a destination."""
    results = [check_config(ctx)]
    if ctx.settings is None:
        return results
    if not ctx.settings.region:
        return [*results, Check("lake", FAIL, "WAZUH_OCSF_REGION is not set", "set WAZUH_OCSF_REGION (REGION)")]
    sources = _sources(ctx)
    if not sources:
        return [*results, Check("lake", FAIL, "no class has a Security Lake source",
                                "set WAZUH_OCSF_SECURITY_FINDING_SOURCE (SOURCE_LOCATION) or run create-source")]
    for source in sources:
        for check in PER_SOURCE:
            try:
                results.append(check(ctx, source))
            except Exception as exc:  # one broken check must not hide the others
                label = check.__name__.replace("check_", "").replace("_", " ")
                results.append(Check(f"{label} ({source.label})", FAIL,
                                     f"the check itself failed: {type(exc).__name__}: {exc}", "report this"))
    return results
