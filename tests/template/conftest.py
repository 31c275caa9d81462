import json
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import pytest  # noqa: E402

import cfn  # noqa: E402


@pytest.fixture(scope="session")
def template():
    return cfn.load(cfn.TEMPLATE)


@pytest.fixture(scope="session")
def member():
    return cfn.load(cfn.MEMBER_TEMPLATE)


@pytest.fixture(scope="session")
def companion():
    """templates/management-account.yaml."""
    return cfn.load(cfn.MANAGEMENT_TEMPLATE)


REQUIRED = {"TargetOUIds": "ou-abcd-12345678", "PortOrgId": "org_1234567890"}


@pytest.fixture
def ev(template):
    return cfn.Evaluator(template, dict(REQUIRED))


SAM_PYTHON = cfn.ROOT / ".venv" / "sam" / "bin" / "python"


@pytest.fixture(scope="session")
def transformed():
    """template.yaml after the SAM transform (what CloudFormation really receives)."""
    out = subprocess.run(
        [str(SAM_PYTHON), str(pathlib.Path(__file__).with_name("sam_transform.py")), str(cfn.TEMPLATE)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": cfn.REGION},
    )
    return json.loads(out.stdout)
