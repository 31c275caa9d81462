"""Fixtures of the release checks: the release module itself (scripts/release.py, imported so no
rule of the release is re-encoded here), the templates, and a local emulator for the uploads."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest
from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


def _load_release():
    spec = importlib.util.spec_from_file_location("release", ROOT / "scripts" / "release.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["release"] = module
    spec.loader.exec_module(module)
    return module


release = _load_release()


def plain(value):
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def load(path: pathlib.Path) -> dict:
    template, matches = decode(str(path))
    assert not matches, f"{path} does not parse: {matches}"
    return plain(template)


@pytest.fixture(scope="session")
def rel():
    return release


@pytest.fixture(scope="session")
def dist():
    if not (DIST / "SHA256SUMS").is_file():
        pytest.fail("dist/ is not built: run tests/release/check (it runs scripts/release first)")
    return DIST


@pytest.fixture(scope="session")
def source_template():
    return load(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def dist_template(dist):
    return load(dist / "template.yaml")


@pytest.fixture(scope="session")
def emulator():
    """The project's emulator (moto + fidelity layer) on a free port; S3 passes through it."""
    py = ROOT / ".venv" / "emulator" / "bin" / "python"
    proc = subprocess.Popen(
        [str(py), str(ROOT / "tests" / "emulator" / "server.py"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("ENDPOINT "), f"emulator did not start: {line!r}"
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def aws_env(emulator):
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.pop("AWS_PROFILE", None)
    return env


@pytest.fixture
def s3(aws_env):
    import boto3
    from botocore.config import Config

    def client(region="us-east-1"):
        return boto3.client(
            "s3", region_name=region, endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )

    return client
