"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (Wazuh and OCSF reference data); skip where absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference data {SHARED_DIR} is not beside the checkout")
    return SHARED_DIR


@pytest.fixture(scope="module")
def lake():
    """moto's S3/STS/IAM server on 127.0.0.1 with IAM authentication on (see ``tests/s3_server.py``).

    One server per test module; tests reset what they create (buckets, users, roles).
    """
    from s3_server import LakeServer

    server = LakeServer().start()
    try:
        yield server
    finally:
        server.close()
