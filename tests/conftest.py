"""Shared fixtures: a mocked AWS account, the two Lambda handlers, and the test photos."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Set before any handler module is imported: they read configuration once, at init.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FACEMATCH_BUCKET": "facematch-test",
        "FACEMATCH_TABLE": "facematch-test",
        "POWERTOOLS_SERVICE_NAME": "facematch",
        "POWERTOOLS_METRICS_NAMESPACE": "FaceMatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "FACEMATCH_ADMIN_KEY": "test-admin-key",
        "FACEMATCH_PAGE_TOKEN_SECRET": "test-page-token-secret",
    }
)
os.environ.pop("FACEMATCH_AWS_ENDPOINT", None)
os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    from support.photos import MISSING_PHOTOS, locate_faces_dir

    path, found = locate_faces_dir()
    if not found:
        pytest.fail(MISSING_PHOTOS.format(path=path))
    return path


@pytest.fixture
def aws():
    """A fresh mocked AWS account with FaceMatch's bucket and table, created from template.yaml."""
    from moto import mock_aws

    from facematch.aws import reset_clients
    from facematch.local.moto_atomic import make_writes_atomic
    from facematch.resources import create_resources

    make_writes_atomic()
    reset_clients()
    with mock_aws():
        create_resources(os.environ["FACEMATCH_BUCKET"], os.environ["FACEMATCH_TABLE"])
        yield
    reset_clients()


@pytest.fixture
def organization() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


def _load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def embedding_app():
    return _load_handler("embedding")


@pytest.fixture(scope="session")
def comparison_app():
    return _load_handler("comparison")


@pytest.fixture(scope="session")
def authorizer_app():
    return _load_handler("authorizer")


@pytest.fixture
def lambda_context():
    from facematch.local.context import LambdaContext

    return LambdaContext()
