#!/usr/bin/env python3
"""Local AWS emulator: moto in-process behind the fidelity layer.

Usage: .venv/emulator/bin/python tests/emulator/server.py [--port 0] [--host 127.0.0.1] [--quiet]

Prints exactly one line ``ENDPOINT http://HOST:PORT`` on stdout once the socket accepts
connections; everything else goes to stderr. Exits 0 on SIGTERM / SIGINT.

``--zygote``: imports moto and warms it once, prints ``ZYGOTE HOST:PORT``, and then forks one
fresh emulator per TCP connection to that address: the child binds its own port, writes its
``ENDPOINT http://HOST:PORT`` line on the connection, and serves until the connection closes.
A child is a copy of the warmed process taken before any request reached it, so each starts
exactly as a new ``server.py`` does, without paying the imports again (about 3 CPU seconds).
The zygote exits when its standard input closes (the test process that started it is gone).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Harmless defaults so moto never looks for real credentials or a real region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def build_app():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from fidelity.app import FidelityApp

    moto_app = DomainDispatcherApplication(create_backend_app)
    _prewarm(moto_app)
    return FidelityApp(moto_app)


def _prewarm(moto_app) -> None:
    """Load moto's CloudFormation/Organizations/IAM/STS apps now (the first CloudFormation
    call otherwise takes over a second), so tests' first calls are as fast as the rest."""
    from werkzeug.test import Client

    client = Client(moto_app)
    scope = "Credential=testing/20240101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    client.post("/", data="Action=ListStacks&Version=2010-05-15",
                headers={**form, "Authorization": "AWS4-HMAC-SHA256 " + scope.format("cloudformation")})
    client.post("/", data="Action=GetCallerIdentity&Version=2011-06-15",
                headers={**form, "Authorization": "AWS4-HMAC-SHA256 " + scope.format("sts")})
    client.post("/", data="Action=ListRoles&Version=2010-05-08",
                headers={**form, "Authorization": "AWS4-HMAC-SHA256 " + scope.format("iam")})
    client.post("/", data="{}", headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSOrganizationsV20161128.ListRoots",
        "Authorization": "AWS4-HMAC-SHA256 " + scope.format("organizations"),
    })
    from fidelity import query

    query.model()  # botocore's CloudFormation model, used by the StackSets layer


def make_server(host: str, port: int, app, quiet: bool = False):
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server as wz_make_server

    handler = MotoRequestHandler
    if quiet:
        class QuietHandler(MotoRequestHandler):  # type: ignore[misc, valid-type]
            def log_request(self, *args, **kwargs):  # noqa: D401
                pass

        handler = QuietHandler
    return wz_make_server(host, port, app, threaded=True, request_handler=handler)


def _serve_child(conn, host: str, quiet: bool, app) -> None:
    """In a forked child: serve `app` on a new port until `conn` closes, then exit."""
    server = make_server(host, 0, app, quiet=quiet)
    child_host, child_port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    conn.sendall(f"ENDPOINT http://{child_host}:{child_port}\n".encode())
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def zygote(host: str, quiet: bool) -> int:
    import select
    import socket

    app = build_app()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(64)
    # Children are reaped by the kernel; a child puts the default back (its own subprocesses).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    sys.stdout.write(f"ZYGOTE {host}:{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([listener, stdin], [], [])
        if stdin in ready and not os.read(stdin, 4096):
            return 0
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        if os.fork() == 0:
            # A fork copies the random generators' state: seed them afresh, as a new process
            # does (moto draws its IDs from its own generator, mock_random).
            import random

            from moto.moto_api._internal import mock_random

            random.seed()
            mock_random.seed()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            try:
                _serve_child(conn, host, quiet, app)
            finally:
                os._exit(1)
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--quiet", action="store_true",
                        help="do not log each request (also: EMULATOR_QUIET=1)")
    parser.add_argument("--zygote", action="store_true",
                        help="fork a fresh emulator per connection (see the module doc)")
    args = parser.parse_args(argv)
    args.quiet = args.quiet or os.environ.get("EMULATOR_QUIET", "") not in ("", "0")

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.zygote:
        return zygote(args.host, args.quiet)
    app = build_app()
    server = make_server(args.host, args.port, app, quiet=args.quiet)
    host, port = server.server_address[:2]

    stopping = threading.Event()

    def _stop(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            print(f"emulator: signal {signum}, shutting down", file=sys.stderr, flush=True)
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # The socket is bound and listening once make_server returns: connections queue until
    # serve_forever picks them up, so announcing now is safe.
    sys.stdout.write(f"ENDPOINT http://{host}:{port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print("emulator: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
