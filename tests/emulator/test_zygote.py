"""server.py --zygote: every emulator forked from one warmed process is fresh and private, and
stops with its connection (tests/src/bed/emulator.rs starts the Rust tests' emulators so)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture()
def zygote():
    p = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "server.py"), "--zygote", "--quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    line = p.stdout.readline().decode()
    assert line.startswith("ZYGOTE "), line
    host, port = line.split()[1].split(":")
    yield p, (host, int(port))
    if p.poll() is None:
        p.kill()
        p.wait()


def fork(addr):
    conn = socket.create_connection(addr)
    line = b""
    while not line.endswith(b"\n"):
        line += conn.recv(1)
    text = line.decode()
    assert text.startswith("ENDPOINT "), text
    return conn, text.split()[1]


def organizations(endpoint: str, target: str, body: dict) -> dict:
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AWSOrganizationsV20161128.{target}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/organizations/"
                         "aws4_request, SignedHeaders=host, Signature=0",
    })
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def refuses(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return False
    except OSError:
        return True


def test_each_fork_is_a_fresh_emulator_of_its_own(zygote):
    _, addr = zygote
    a, ea = fork(addr)
    b, eb = fork(addr)
    assert ea != eb
    org = organizations(ea, "CreateOrganization", {"FeatureSet": "ALL"})["Organization"]
    # The organization exists in the first fork only; the second answers as a new emulator.
    assert organizations(ea, "DescribeOrganization", {})["Organization"]["Id"] == org["Id"]
    with pytest.raises(urllib.error.HTTPError) as e:
        organizations(eb, "DescribeOrganization", {})
    assert e.value.code == 400
    assert organizations(eb, "CreateOrganization", {"FeatureSet": "ALL"})["Organization"]
    a.close()
    b.close()


def test_a_fork_stops_when_its_connection_closes_and_the_zygote_when_its_stdin_closes(zygote):
    p, addr = zygote
    conn, endpoint = fork(addr)
    assert not refuses(endpoint)
    conn.close()
    deadline = time.time() + 5
    while not refuses(endpoint):
        assert time.time() < deadline, "the fork still serves after its connection closed"
        time.sleep(0.05)
    p.stdin.close()
    assert p.wait(timeout=5) == 0
