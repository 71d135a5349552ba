"""``wazuh-ocsf demo``: the whole pipeline on this machine, against a local S3-compatible server.

1. make a Wazuh-home-like tree (``etc/wazuh-ocsf.conf``, ``integrations/``, ``logs/``, the
   package where the installer puts it, the spool);
2. start moto's S3/STS/IAM server on 127.0.0.1 with a Security Lake bucket and a provider role;
3. feed the sample alerts through the real ``integrations/custom-wazuh-ocsf`` exactly as
   ``wazuh-integratord`` does: each alert written to ``/tmp/<name>-<epoch>-<random>.alert``,
   the script run with the argv of Wazuh 4.8+, one at a time, waited for, the file deleted;
4. run ``wazuh-ocsf flush`` as its own process, which assumes the provider role with the
   external id and uploads the Parquet objects;
5. list the uploaded keys, download them and query them with DuckDB (events by severity,
   top rules, top MITRE ATT&CK techniques; with ``--class auto`` also events per class and
   the vulnerabilities by CVSS score); stop the server.

Needs a source checkout installed with ``pip install -e '.[test]'`` (moto and duckdb are test
extras; the integration script and sample alerts come from the checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = "run the whole pipeline locally: sample alerts → integration → flush → local S3 server → query"

INTEGRATION = "custom-wazuh-ocsf"
BUCKET = "aws-security-data-lake-us-east-1-demo"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's account
SOURCE = "wazuh"
EXTERNAL_ID = "wazuh-ocsf-demo"
ROLE_NAME = f"AmazonSecurityLake-Provider-{SOURCE}-{REGION}"
NODE_NAME = "demo-manager"
CHECKOUT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--keep DIR``, ``--alerts PATH``, ``--class``."""
    parser.add_argument(
        "--keep", metavar="DIR", help="build the demo tree in DIR (new or empty) and keep it afterwards"
    )
    parser.add_argument(
        "--alerts",
        metavar="PATH",
        help="alerts to feed: a directory of *.json files (one alert each) or a file of one alert per line, "
        "like logs/alerts/alerts.json (default: the checkout's tests/data/alerts)",
    )
    parser.add_argument(
        "--class",
        dest="ocsf_class",
        choices=("security_finding", "detection_finding", "auto"),
        default="security_finding",
        help="OCSF class to map to, or auto: each alert in the class that fits it, one custom source per class "
        "(default: security_finding)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every spooled event reached the bucket."""
    from wazuh_ocsf.errors import WazuhOcsfError

    try:
        import boto3
        import duckdb
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise WazuhOcsfError(
            f"the demo needs the test extras (moto[server], duckdb): {exc}; run: pip install -e '.[test]'"
        ) from None
    wrapper = CHECKOUT / "integrations" / INTEGRATION
    if not wrapper.is_file():
        raise WazuhOcsfError(
            f"the demo runs from a source checkout installed with pip install -e '.[test]': {wrapper} is missing"
        )
    alerts = _load_alerts(Path(args.alerts) if args.alerts else CHECKOUT / "tests" / "data" / "alerts")

    if args.keep:
        home = Path(args.keep).resolve()
        if home.exists() and any(home.iterdir()):
            raise WazuhOcsfError(f"--keep {home}: the directory is not empty")
        home.mkdir(parents=True, exist_ok=True)
    else:
        home = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-demo-"))
    _quiet_server_logs()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        return _demo(home, url, alerts, args.ocsf_class, boto3, duckdb, kept=bool(args.keep))
    finally:
        server.stop()
        # ThreadedMotoServer.stop() leaves the socket open; close it so nothing can connect.
        server._server.server_close()
        print(f"\nS3 server stopped. {'Tree kept in ' + str(home) if args.keep else 'Demo tree removed.'}")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def _demo(home: Path, url: str, alerts: list, ocsf_class: str, boto3, duckdb, *, kept: bool) -> int:
    from wazuh_ocsf.hook.run import EXIT_CODES

    print(f"wazuh-ocsf demo in {home}")
    env = _clean_environment(home)
    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name=REGION)
    sources = _sources(ocsf_class)
    role_arn = _make_lake(session, url, sources)
    print(f"[1/5] S3-compatible server (moto) at {url}: bucket {BUCKET}, provider role {role_arn}")

    _make_tree(home, url, role_arn, ocsf_class, sources)
    outcomes = _feed(home, alerts, env)
    spooled = outcomes.pop(0, 0)
    log = home / "logs" / "integrations.log" if kept else "logs/integrations.log: run with --keep DIR to look"
    others = ", ".join(
        f"{count} exit {code} ({EXIT_CODES.get(code, 'unknown exit code')})" for code, count in sorted(outcomes.items())
    )
    print(
        f"[2/5] {len(alerts)} alerts through integrations/{INTEGRATION}, one at a time as wazuh-integratord "
        f"runs it: {spooled} spooled" + (f", {others} (see {log})" if others else "")
    )

    flush = subprocess.run(
        [sys.executable, "-m", "wazuh_ocsf.cli", "--config", str(home / "etc" / "wazuh-ocsf.conf"), "flush"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
    )
    print(f"[3/5] wazuh-ocsf flush (exit {flush.returncode}): {flush.stdout.strip()}")
    if flush.stderr.strip():
        print(_indent(flush.stderr.strip()))

    s3 = session.client("s3", endpoint_url=url)
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    print(f"[4/5] {len(keys)} object{'s' * (len(keys) != 1)} in s3://{BUCKET}/:")
    download = home / "downloaded"
    for key in keys:
        target = download / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(BUCKET, key, str(target))
        print(f"      {key}  ({target.stat().st_size} bytes)")
    if not keys:
        print("      none: the flush delivered nothing")
        return 1

    print("[5/5] DuckDB over the downloaded objects:")
    rows = _query(duckdb, download, sources)
    return 0 if flush.returncode == 0 and rows == spooled else 1


def _sources(ocsf_class: str) -> dict:
    """The custom source of each class the demo writes: class name → source name."""
    from wazuh_ocsf.config import AUTO, CLASS_NAMES, ROUTED_CLASSES, default_source_name

    if ocsf_class != AUTO:
        return {ocsf_class: SOURCE}
    # auto: the finding class (detection_finding, the default) and every routed class
    return {"detection_finding": SOURCE, **{CLASS_NAMES[uid]: default_source_name(uid) for uid in ROUTED_CLASSES}}


def _load_alerts(path: Path) -> list:
    """Alert JSON texts from a directory of ``*.json`` files or a file of one alert per line."""
    from wazuh_ocsf.errors import WazuhOcsfError

    if path.is_dir():
        texts = [file.read_text(encoding="utf-8") for file in sorted(path.glob("*.json"))]
    elif path.is_file():
        texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise WazuhOcsfError(f"--alerts {path}: no such file or directory")
    if not texts:
        raise WazuhOcsfError(f"--alerts {path}: no alerts found")
    alerts = []
    for text in texts:
        try:
            # integratord writes each alert as one line of compact JSON
            alerts.append(json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False))
        except ValueError:
            alerts.append(text.replace("\n", " "))  # fed as is: the hook will refuse it, as it would live
    return alerts


def _clean_environment(home: Path) -> dict:
    """The environment for the integration and the flush: no settings or AWS identity from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZUH_OCSF_", "AWS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


def _make_lake(session, url: str, sources: dict) -> str:
    """The bucket and the custom source's provider role (trusting the external id, allowed to
    write to every source's location); the role ARN."""
    session.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }
    access = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"arn:aws:s3:::{BUCKET}/ext/{name}/*" for name in sources.values()],
            }
        ],
    }
    iam = session.client("iam", endpoint_url=url)
    arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="s3-put", PolicyDocument=json.dumps(access))
    return arn


def _make_tree(home: Path, url: str, role_arn: str, ocsf_class: str, sources: dict) -> None:
    """``<home>`` laid out like a manager with wazuh-ocsf installed."""
    for sub in ("etc", "logs", "integrations", "wazuh-ocsf/spool", "wazuh-ocsf/lib", "framework/python/bin"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(CHECKOUT / "integrations" / INTEGRATION, home / "integrations" / INTEGRATION)
    os.chmod(home / "integrations" / INTEGRATION, 0o750)
    shutil.copytree(
        CHECKOUT / "wazuh_ocsf",
        home / "wazuh-ocsf" / "lib" / "wazuh_ocsf",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # The checkout's integration (no installed #! line) runs on the venv's or else the embedded framework/python.
    (home / "framework" / "python" / "bin" / "python3").symlink_to(sys.executable)
    config = f"""\
# wazuh-ocsf demo: the seed guide's names, plus the local server's endpoints
WAZUH_OCSF_WAZUH_HOME={home}
AWS_BUCKET={BUCKET}
REGION={REGION}
ACCOUNT_ID={ACCOUNT_ID}
SOURCE_LOCATION={SOURCE}
OCSF_CLASS={ocsf_class}
ROLE_ARN={role_arn}
EXTERNAL_ID={EXTERNAL_ID}
WAZUH_OCSF_S3_ENDPOINT_URL={url}
WAZUH_OCSF_STS_ENDPOINT_URL={url}
WAZUH_OCSF_NODE_NAME={NODE_NAME}
"""
    for name, source in sources.items():
        if source != SOURCE:  # SOURCE_LOCATION names the finding class's
            config += f"WAZUH_OCSF_{name.upper()}_SOURCE={source}\n"
    (home / "etc" / "wazuh-ocsf.conf").write_text(config, encoding="utf-8")


def _feed(home: Path, alerts: list, env: dict) -> dict:
    """Run the integration once per alert as wazuh-integratord 4.8+ does; exit code → count."""
    outcomes: dict = {}
    script = str(home / "integrations" / INTEGRATION)
    for alert in alerts:
        path = f"/tmp/{INTEGRATION}-{int(time.time())}-{random.randint(0, 2**31 - 1)}.alert"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(alert + "\n")
        try:
            # argv: alert_file api_key hook_url debug options_file timeout retries "> /dev/null 2>&1"
            argv = [script, path, "", "", "", "", "10", "3", " > /dev/null 2>&1"]
            code = subprocess.run(argv, cwd=home, env=env, stdin=subprocess.DEVNULL, capture_output=True).returncode
        finally:
            os.unlink(path)
        outcomes[code] = outcomes.get(code, 0) + 1
    return outcomes


def _parquet(directory: Path) -> str:
    """``read_parquet(...)`` of every object below ``directory``, for a view (views take no parameters)."""
    pattern = str(directory / "**" / "*.parquet").replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true)"


def _query(duckdb, download: Path, sources: dict) -> int:
    """Print events by severity, top rules and top techniques of the finding class (and with
    several classes events per class and the vulnerabilities); return the number of events."""
    con = duckdb.connect()
    present = {name: source for name, source in sources.items() if (download / "ext" / source).is_dir()}
    finding_source = sources.get("security_finding") or sources.get("detection_finding")
    con.execute(f"CREATE VIEW findings AS SELECT * FROM {_parquet(download / 'ext' / finding_source)}")
    extra = []
    if len(sources) > 1:
        counts = " UNION ALL ".join(
            f"SELECT class_uid, any_value(class_name) AS class, count(*) AS events, '{source}' AS source "
            f"FROM {_parquet(download / 'ext' / source)} GROUP BY class_uid"
            for source in present.values()
        )
        extra.append(("Events by class (one custom source each)", f"{counts} ORDER BY events DESC"))
    if "vulnerability_finding" in present:
        con.execute(
            "CREATE VIEW vulnerabilities AS SELECT * FROM "
            + _parquet(download / "ext" / present["vulnerability_finding"])
        )
        extra.append((
            "Open vulnerabilities by CVSS base score",
            "SELECT v.cve.uid AS cve, s.version AS cvss, s.base_score AS score, device.name AS host, "
            "v.affected_packages[1].name AS package FROM vulnerabilities, UNNEST(vulnerabilities) AS t(v), "
            "UNNEST(v.cve.cvss) AS u(s) WHERE status_id = 1 ORDER BY score DESC, cve LIMIT 5",
        ))
    columns = {row[0] for row in con.execute("DESCRIBE findings").fetchall()}
    if "finding" in columns:  # Security Finding (2001)
        rule_uid, title = "analytic.uid", "finding.title"
    else:  # Detection Finding (2004)
        rule_uid, title = "finding_info.analytic.uid", "finding_info.title"
    attacks = "attacks" if "attacks" in columns else "finding_info.attacks"
    queries = (
        (
            "Events by severity",
            "SELECT severity, count(*) AS events FROM findings "
            "GROUP BY severity_id, severity ORDER BY severity_id DESC",
        ),
        (
            "Top rules",
            f"SELECT {rule_uid} AS rule, any_value({title}) AS title, count(*) AS events "
            "FROM findings GROUP BY rule ORDER BY events DESC, rule LIMIT 5",
        ),
        (
            "Top MITRE ATT&CK techniques",
            "SELECT a.technique.uid AS technique, any_value(a.technique.name) AS name, count(*) AS events "
            f"FROM (SELECT unnest({attacks}) AS a FROM findings) WHERE a.technique.uid IS NOT NULL GROUP BY technique "
            "ORDER BY events DESC, technique LIMIT 5",
        ),
    )
    for heading, sql in (*extra, *queries):
        result = con.execute(sql)
        print(f"\n  {heading}:\n    {sql}")
        print(_indent(_table([d[0] for d in result.description], result.fetchall()), "    "))
    return sum(
        con.execute(f"SELECT count(*) FROM {_parquet(download / 'ext' / source)}").fetchone()[0]
        for source in present.values()
    )


def _table(header: list, rows: list) -> str:
    cells = [header] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _quiet_server_logs() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
