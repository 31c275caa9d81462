#!/usr/bin/env python3
"""Build an organization in a running emulator and print its JSON description.

  tests/emulator/fixture.py sample   --endpoint http://127.0.0.1:PORT [--no-trusted-access] [--reset]
  tests/emulator/fixture.py generate --endpoint URL [--accounts 2000] [--ous 200] [--max-depth 5]
                                     [--suspended-every 37] [--seed 1] [--no-trusted-access] [--reset]

The endpoint defaults to $AWS_ENDPOINT_URL. Standard library only: runs with any python3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def call(endpoint: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        endpoint.rstrip("/") + "/_fidelity" + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"fixture: {path} answered {e.code}: {e.read().decode()}")
    except urllib.error.URLError as e:
        sys.exit(f"fixture: cannot reach {endpoint}: {e.reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["sample", "generate"])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--reset", action="store_true", help="wipe the emulator first")
    parser.add_argument("--no-trusted-access", action="store_true", help="leave StackSets trusted access disabled")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--ous", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--suspended-every", type=int, default=37)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compact", action="store_true", help="one-line JSON")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("--endpoint (or AWS_ENDPOINT_URL) is required")
    if args.reset:
        call(args.endpoint, "/reset", {})
    body: dict = {"trusted_access": not args.no_trusted_access}
    if args.kind == "generate":
        body.update(
            accounts=args.accounts, ous=args.ous, max_depth=args.max_depth,
            suspended_every=args.suspended_every, seed=args.seed,
        )
    out = call(args.endpoint, f"/fixture/{args.kind}", body)
    json.dump(out, sys.stdout, indent=None if args.compact else 2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
