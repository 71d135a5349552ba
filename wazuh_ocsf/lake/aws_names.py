"""AWS's formats for the two names an administrator types: the region and the S3 bucket.

The hook imports this module (through :mod:`wazuh_ocsf.config`): standard library only, no
``re``. Each parser returns the name or raises ValueError with what is wrong and, where one
is obvious, the name that was probably meant.
"""

from __future__ import annotations

#: The regions of every AWS partition, as botocore 1.40's ``endpoints.json`` lists them.
#: A region opened later is still accepted when the installed botocore knows it.
REGIONS = frozenset(
    (  # noqa: SIM905 (a word list reads best as words)
        "af-south-1 ap-east-1 ap-east-2 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1 ap-south-2 "
        "ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-6 ap-southeast-7 "
        "ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2 eu-west-1 eu-west-2 "
        "eu-west-3 il-central-1 me-central-1 me-south-1 mx-central-1 sa-east-1 us-east-1 us-east-2 us-west-1 "
        "us-west-2 cn-north-1 cn-northwest-1 us-gov-east-1 us-gov-west-1 us-iso-east-1 us-iso-west-1 "
        "us-isob-east-1 us-isob-west-1 eu-isoe-west-1 us-isof-east-1 us-isof-south-1 eusc-de-east-1"
    ).split()
)

LAKE_BUCKET_PREFIX = "aws-security-data-lake-"
_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def _botocore_regions() -> frozenset:
    """Regions the installed botocore knows (empty when botocore is not importable, as in the hook)."""
    try:
        from botocore.loaders import Loader

        data = Loader().load_data("endpoints")
    except Exception:  # no botocore, or data it cannot load: the static table decides
        return frozenset()
    return frozenset(r for p in data.get("partitions", ()) for r in p.get("regions", {}))


def _well_formed(text: str) -> bool:
    """``<letters>-<letters>[-<letters>…]-<digits>``, all lowercase: ``eu-west-1``, ``us-gov-west-1``."""
    parts = text.split("-")
    return (
        len(parts) >= 3
        and all(p.isascii() and p.isalpha() and p.islower() for p in parts[:-1])
        and parts[-1].isascii()
        and parts[-1].isdigit()
    )


def parse_region(value: str) -> str:
    """An AWS region name such as ``eu-west-1``; ValueError for anything else."""
    text = value.strip()
    if text in REGIONS:
        return text
    if text.lower() in REGIONS:
        raise ValueError(f"region names are lowercase: {text.lower()}")
    if text[-1:].isalpha() and text[:-1] in REGIONS:
        raise ValueError(f"{text} is an availability zone; its region is {text[:-1]}")
    if _well_formed(text) and text in _botocore_regions():
        return text
    raise ValueError("no AWS region has this name (expected one such as eu-west-1 or us-east-1)")


def parse_bucket(value: str) -> str:
    """An S3 bucket name (AWS's naming rules); a ``s3://`` URL or an ARN is refused with the name in it."""
    text = value.strip()
    for prefix in ("s3://", "arn:aws:s3:::"):
        if text.lower().startswith(prefix):
            name = text[len(prefix) :].split("/", 1)[0]
            raise ValueError(f"expected the bucket's name, not a URL or ARN: write {name} without {prefix}")
    if not 3 <= len(text) <= 63:
        raise ValueError("expected a bucket name of 3 to 63 characters")
    if not set(text) <= _BUCKET_CHARS:
        raise ValueError("expected a bucket name of lowercase letters, digits, dots and hyphens")
    if not (text[0].isalnum() and text[-1].isalnum()):
        raise ValueError("expected a bucket name that begins and ends with a letter or digit")
    if ".." in text or ".-" in text or "-." in text:
        raise ValueError("expected a bucket name without '..', '.-' or '-.'")
    if all(part.isdigit() for part in text.split(".")) and text.count(".") == 3:
        raise ValueError("expected a bucket name, not an IP address")
    return text


def lake_bucket_region(bucket: str) -> str | None:
    """The region a Security Lake bucket names (``aws-security-data-lake-<region>-<id>``), else None."""
    if not bucket.startswith(LAKE_BUCKET_PREFIX):
        return None
    words = bucket[len(LAKE_BUCKET_PREFIX) :].split("-")
    # The region is every word up to the first that ends in digits; the rest is the lake's id.
    for end in range(2, len(words)):
        candidate = "-".join(words[:end])
        if _well_formed(candidate):
            return candidate
    return None
