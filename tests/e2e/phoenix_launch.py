"""`phoenix serve`, with its OTLP/gRPC receiver bound to loopback.

Phoenix 20.x binds its gRPC server to [::] (every interface); this wrapper rewrites that
address to PHOENIX_HOST (default 127.0.0.1) before handing over to Phoenix's own CLI.
"""
import os
import sys

import grpc.aio

_HOST = os.environ.get("PHOENIX_HOST", "127.0.0.1")
_orig_server = grpc.aio.server


def _loopback_server(*args, **kwargs):
    server = _orig_server(*args, **kwargs)
    insecure, secure = server.add_insecure_port, server.add_secure_port

    def fix(address):
        if address.startswith("[::]:") or address.startswith("0.0.0.0:"):
            return f"{_HOST}:{address.rsplit(':', 1)[1]}"
        return address

    server.add_insecure_port = lambda address: insecure(fix(address))
    server.add_secure_port = lambda address, creds: secure(fix(address), creds)
    return server


grpc.aio.server = _loopback_server

from phoenix.server.main import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["phoenix", *sys.argv[1:]]
    sys.exit(main())
