"""What an alert is about: the agent's host, or something the agent only collected.

OCSF's ``device`` is "the device/host affected" and ``resources`` "the target of the
activity". For most alerts that is the agent's host. Alerts of the cloud and SaaS modules
(AWS CloudTrail/GuardDuty/Macie, Office 365, GitHub, GCP, Azure, Microsoft Graph) are about
an account, a tenant, an organisation or a project that the agent (usually the manager,
agent 000) only polled; remote-syslog alerts are about the host that sent the line. For
those the agent is the *collector*: it goes to ``metadata.loggers`` ("an array of Logger
objects that describe the devices and logging products between the event source and its
eventual destination"), and ``resources``/``device`` hold what the alert is about.

VirusTotal alerts keep the agent as ``device``: the integration files its alert under the
agent of the FIM alert whose file it looked up, so that host is where the file is.

Values are copied; the module's fields stay in ``unmapped`` as well.
"""

from __future__ import annotations

from wazuh_ocsf.mapping.base import PROFILE_HOST, agent_resource, map_device, text_at
from wazuh_ocsf.mapping.common import MAX_STRING, as_text, cut
from wazuh_ocsf.mapping.observables import is_ip

#: ``data.integration`` (or Azure's ``data.azure_tag``) values of modules that report on
#: something else than the collecting agent's host.
FOREIGN_INTEGRATIONS = frozenset({"aws", "office365", "github", "gcp", "azure", "ms-graph"})

SYSLOG = "syslog"
PROFILE_CLOUD = "cloud"
_AWS_ACCOUNT = "AWS account"
# CloudTrail requestParameters keys that name the object acted on, and its resource type.
_CLOUDTRAIL_TARGETS = (
    ("userName", "AWS::IAM::User"),
    ("roleName", "AWS::IAM::Role"),
    ("groupName", "AWS::IAM::Group"),
    ("policyArn", "AWS::IAM::Policy"),
    ("bucketName", "AWS::S3::Bucket"),
    ("instanceId", "AWS::EC2::Instance"),
    ("keyId", "AWS::KMS::Key"),
    ("trailName", "AWS::CloudTrail::Trail"),
)


def _text(obj: object, *keys: str) -> str | None:
    for key in keys:
        if type(obj) is not dict:
            return None
        obj = obj.get(key)
    value = as_text(obj) if type(obj) is str else None
    return value


def module(alert: dict) -> str | None:
    """The module whose alert is about something else than the agent's host, else None:
    ``aws``, ``office365``, ``github``, ``gcp``, ``azure``, ``ms-graph`` or ``syslog``."""
    data = alert.get("data")
    if type(data) is dict:
        integration = data.get("integration")
        if type(integration) is str and integration in FOREIGN_INTEGRATIONS:
            return integration
        if "azure_tag" in data:
            return "azure"
    if remote_host(alert) is not None:
        return SYSLOG
    return None


def _short(name: str) -> str:
    return name.split(".", 1)[0].lower()


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


def _is_hostname(name: str) -> bool:
    """Whether ``name`` is a host name as OCSF's ``hostname_t`` takes it: dot-separated labels of
    letters, digits and inner hyphens (no ``re``: this runs in the hook). In C calls rather than
    a loop per label: no empty label (no leading, trailing or double dot), none that begins or
    ends with a hyphen."""
    return (
        _HOST_CHARS.issuperset(name)
        and name[:1] not in ".-"
        and name[-1:] not in ".-"
        and ".." not in name
        and ".-" not in name
        and "-." not in name
    )


def remote_host(alert: dict) -> str | None:
    """``predecoder.hostname`` when it names another host than the agent (a syslog line
    the agent or the manager received from elsewhere), else None. The predecoder takes the
    word after the timestamp, which is not always a host (``Info:``): that stays unmapped."""
    predecoder = alert.get("predecoder")
    if type(predecoder) is not dict:
        return None
    hostname = predecoder.get("hostname")
    if type(hostname) is not str or not hostname or len(hostname) > MAX_STRING or not _is_hostname(hostname):
        return None
    agent_name = _text(alert, "agent", "name")
    if agent_name is not None and _short(agent_name) == _short(hostname):
        return None
    if agent_name is None and _text(alert, "agent", "id") is None:
        return None  # no agent to tell it from
    return hostname


def _resource(uid: str | None, name: str | None, kind: str, region: str | None = None) -> dict | None:
    if uid is None and name is None:
        return None
    resource = {}
    if uid is not None:
        resource["uid"] = uid
    if name is not None:
        resource["name"] = name
    resource["type"] = kind
    if region is not None:
        resource["region"] = region
    return resource


def _aws_account(aws: object) -> str | None:
    """The AWS account an AWS module alert is about: CloudTrail's recipient, GuardDuty's and
    Macie's ``accountId``, else the account of the bucket the module read."""
    return (
        _text(aws, "recipientAccountId")
        or _text(aws, "accountId")
        or _text(aws, "aws_account_id")
        or _text(aws, "userIdentity", "accountId")
    )


def _aws(data: dict) -> list:
    aws = data.get("aws")
    if type(aws) is not dict:
        return []
    region = _text(aws, "awsRegion") or _text(aws, "region")
    found = []
    for key, kind in _CLOUDTRAIL_TARGETS:  # the object a CloudTrail API call acted on
        target = _text(aws, "requestParameters", key)
        if target is not None:
            found.append(_resource(None, target, kind, region))
    instance = _text(aws, "resource", "instanceDetails", "instanceId")  # GuardDuty
    if instance is not None:
        found.append(_resource(instance, None, "AWS::EC2::Instance", region))
    key = _text(aws, "resource", "accessKeyDetails", "userName")  # GuardDuty IAM findings
    if key is not None:
        found.append(_resource(None, key, "AWS::IAM::User", region))
    bucket = _text(aws, "resourcesAffected", "s3Bucket", "name")  # Macie
    if bucket is not None:
        found.append(_resource(None, bucket, "AWS::S3::Bucket", region))
    account = _aws_account(aws)
    if account is not None:
        found.append(_resource(account, None, _AWS_ACCOUNT, region))
    return found


def _office365(data: dict) -> list:
    office = data.get("office365")
    if type(office) is not dict:
        return []
    workload = _text(office, "Workload")
    found = []
    target = _text(office, "ObjectId")
    if target is not None:
        found.append(_resource(None, target, f"Office 365 {workload} object" if workload else "Office 365 object"))
    tenant = _text(office, "OrganizationId")
    if tenant is not None:
        found.append(_resource(tenant, None, "Office 365 tenant"))
    return found


def _github(data: dict) -> list:
    github = data.get("github")
    if type(github) is not dict:
        return []
    found = []
    repo = _text(github, "repo")
    if repo is not None:
        found.append(_resource(None, repo, "GitHub repository"))
    org = _text(github, "org")
    if org is not None:
        found.append(_resource(None, org, "GitHub organization"))
    return found


def _gcp(data: dict) -> list:
    gcp = data.get("gcp")
    if type(gcp) is not dict:
        return []
    kind = _text(gcp, "resource", "type") or "GCP resource"
    project = _text(gcp, "resource", "labels", "project_id")
    found = []
    name = _text(gcp, "protoPayload", "resourceName")
    if name is not None:
        found.append(_resource(None, name, kind))
    if project is not None:
        found.append(_resource(project, None, "GCP project"))
    return found


def _azure(data: dict) -> list:
    found = []
    resource_id = _text(data, "resourceId") or _text(data, "azure", "resourceId")
    if resource_id is not None:
        found.append(_resource(resource_id, None, "Azure resource"))
    tenant = _text(data, "tenantId") or _text(data, "azure", "tenantId")
    if tenant is not None:
        found.append(_resource(tenant, None, "Azure tenant"))
    return found


def _ms_graph(data: dict) -> list:
    graph = data.get("ms-graph")
    tenant = _text(graph, "tenantId") if type(graph) is dict else None
    return [_resource(tenant, None, "Microsoft Entra tenant")] if tenant is not None else []


_RESOURCES = {
    "aws": _aws,
    "office365": _office365,
    "github": _github,
    "gcp": _gcp,
    "azure": _azure,
    "ms-graph": _ms_graph,
}


def module_resources(alert: dict, name: str) -> list | None:
    """``resources[]`` for a module alert (see the README table), None when it names none."""
    data = alert.get("data")
    build = _RESOURCES.get(name)
    if build is None or type(data) is not dict:
        return None
    return [resource for resource in build(data) if resource is not None] or None


_PROVIDERS = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
_AWS_ACCOUNT_TYPE = (10, "AWS Account")


def module_cloud(alert: dict, name: str) -> dict | None:
    """OCSF ``cloud`` (the cloud profile) for the AWS, GCP and Azure modules: the provider,
    and the AWS account and region or the GCP project the alert is about."""
    provider = _PROVIDERS.get(name)
    if provider is None:
        return None
    cloud = {"provider": provider}
    data = alert.get("data")
    if name == "aws":
        region = _text(data, "aws", "awsRegion") or _text(data, "aws", "region")
        if region is not None:
            cloud["region"] = region
        account = _aws_account(data.get("aws"))
        if account is not None:
            cloud["account"] = {"uid": account, "type_id": _AWS_ACCOUNT_TYPE[0], "type": _AWS_ACCOUNT_TYPE[1]}
    elif name == "gcp":
        project = _text(data, "gcp", "resource", "labels", "project_id")
        if project is not None:
            cloud["project_uid"] = project
    return cloud


def remote_device(alert: dict) -> dict | None:
    """The host a remote-syslog alert is about: ``predecoder.hostname`` (and ``location``
    when it is the sender's IP, as remote syslog writes it)."""
    hostname = remote_host(alert)
    if hostname is None:
        return None
    device = {"hostname": cut(hostname)}
    location = alert.get("location")
    if type(location) is str and is_ip(location):
        device["ip"] = location
    device["type_id"], device["type"] = 0, "Unknown"
    return device


def collector(agent: object, used: set) -> list | None:
    """``metadata.loggers`` for the agent that collected a module's alert: its id and name,
    and its host as the logger's ``device``; None without an agent."""
    device = map_device(agent, used)
    resource = agent_resource(agent, used)  # uid and name, as the resource would have them
    if device is None or resource is None:
        return None
    entry = {key: resource[key] for key in ("uid", "name") if key in resource}
    entry["device"] = device
    return [entry]


def remote_resource(device: dict) -> dict:
    """The remote-syslog host as the finding's ``resources`` member."""
    return {"name": device["hostname"], "type": "Host"}


def _label_pairs(labels: dict, prefix: str, out: list) -> bool:
    exact = True
    for key, value in labels.items():
        if type(value) is dict:
            exact = _label_pairs(value, f"{prefix}{key}.", out) and exact
        elif type(value) is str and value:
            out.append(cut(f"{prefix}{key}:{value}"))
        else:
            text = as_text(value)
            if text is not None:
                out.append(cut(f"{prefix}{key}:{text}"))
            exact = exact and text is None and value in (None, "")
    return exact


def agent_labels(agent: dict, used: set) -> list | None:
    """``agent.labels`` (the agent's ``<labels>``; nested for dotted keys) as ``key:value``
    strings, OCSF resource ``labels``; ``agent.labels`` is used when every value was text."""
    labels = agent.get("labels")
    if type(labels) is not dict or not labels:
        return None
    out: list = []
    if _label_pairs(labels, "", out) and out:
        used.add("agent.labels")
    return out or None


def _add_profile(event: dict, profile: str) -> None:
    profiles = event["metadata"].setdefault("profiles", [])
    if profile not in profiles:
        profiles.append(profile)


def add_subject(event: dict, alert: dict, used: set, *, device: bool) -> None:
    """``resources`` (and ``device`` with the host profile when ``device``) of a finding
    class: the agent's host, or for an alert about something else what it is about, with the
    agent in ``metadata.loggers`` and, for a cloud provider's module, ``cloud`` (cloud profile).
    ``manager.name`` is always the last of ``metadata.loggers``."""
    agent = alert.get("agent")
    about = module(alert)
    host = None
    if about is None:
        if device:
            host = map_device(agent, used)
        resource = agent_resource(agent, used)
        if resource is not None:
            labels = agent_labels(agent, used)
            if labels is not None:
                resource["labels"] = labels
        resources = None if resource is None else [resource]
    else:
        loggers = collector(agent, used)
        if loggers is not None:
            event["metadata"]["loggers"] = loggers
        if about == SYSLOG:
            host = remote_device(alert)
            resources = [remote_resource(host)]
        else:
            resources = module_resources(alert, about)
            cloud = module_cloud(alert, about)
            if cloud is not None:
                event["cloud"] = cloud
                _add_profile(event, PROFILE_CLOUD)
    manager = alert.get("manager")
    name = text_at(manager, "name", "manager.name", used) if type(manager) is dict else None
    if name is not None:  # the manager that analysed the event and fired the alert: the last logger
        event["metadata"].setdefault("loggers", []).append({"name": name})
    if host is not None and device:
        event["device"] = host
        _add_profile(event, PROFILE_HOST)
    if resources is not None:
        event["resources"] = resources
