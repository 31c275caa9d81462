"""Pytest fixtures: one emulator server per session, reset before every test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"


class Emulator:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.endpoint + "/_fidelity" + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:  # surface the layer's message in the assertion
            raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode()}") from None

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def client(self, service: str, retries: bool = False, region: str = REGION):
        cfg = Config(retries={"total_max_attempts": 1} if not retries else {"mode": "standard"})
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=cfg,
        )


@pytest.fixture(scope="session")
def emulator():
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "server.py"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if not os.environ.get("EMULATOR_LOG") else None,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("ENDPOINT http://127.0.0.1:"), f"unexpected first line {line!r}"
    emu = Emulator(line.split()[1])
    try:
        yield emu
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=10) == 0, "server did not exit cleanly on SIGTERM"
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture
def emu(emulator):
    emulator.post("/reset")
    emulator.post("/config", {"operation_seconds": 0.15})
    return emulator


@pytest.fixture
def sample(emu):
    return emu.post("/fixture/sample")


@pytest.fixture
def org(emu):
    return emu.client("organizations")


@pytest.fixture
def cfn(emu):
    return emu.client("cloudformation")


def wait_op(cfn, stack_set: str, op_id: str, timeout: float = 10.0) -> dict:
    deadline = time.time() + timeout
    while True:
        op = cfn.describe_stack_set_operation(StackSetName=stack_set, OperationId=op_id)["StackSetOperation"]
        if op["Status"] not in ("RUNNING", "QUEUED", "STOPPING"):
            return op
        if time.time() > deadline:
            raise AssertionError(f"operation {op_id} still {op['Status']}")
        time.sleep(0.05)
