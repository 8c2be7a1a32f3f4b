"""What the speed benchmarks share: a loopback server in its own process, and a caller's hand-written signing.

The server answers ``GET /health`` and ``POST /mgt/v1/gate/commits`` with fixed envelopes and remembers the last
request it served, which ``GET /_last`` returns (method, path, headers, body), so a benchmark can check that the
client and its bare baseline send the same request before it times them.

``sign`` is SVC-AUTH written out the way a careful caller without this package would write it (``hashlib``,
``hmac``, ``base64``, ``secrets``): the baselines never borrow the client's own signing code, so a slow signer in
the client cannot make the baseline slower too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from typing import Any

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY_ID = "pk-bench"
REALM = "r"
COMMIT = {
    "ok": True,
    "code": "OK",
    "data": {"commit_id": "c1", "amount_xusd": "12000", "cost_xusd": "0", "lines": []},
    "hints": [],
}
HEALTH = {"ok": True, "code": "OK", "data": {"status": "healthy", "service": "bench"}}

SERVER = r"""
import http.server, json, socket, sys
answers = {"GET /health": json.dumps(HEALTH).encode(), "POST /mgt/v1/gate/commits": json.dumps(COMMIT).encode()}
last = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, delayed ACKs hold each answer ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def answer(self):
        got = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_last":
            body = json.dumps(last).encode()
        else:
            body = answers.get(f"{self.command} {self.path}", b'{"ok":false,"code":"NOT_FOUND"}')
            last.clear()
            last.update(method=self.command, path=self.path, headers=list(self.headers.items()), body=got.decode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
""".replace("HEALTH", repr(HEALTH)).replace("COMMIT", repr(COMMIT))

#: The signed header names in the server's canonical order (the SVC-AUTH specification, not the client's table).
_SIGNED = (
    "content-digest",
    "content-type",
    "x-realm-id",
    "x-principal-id",
    "x-user-id",
    "x-billing-account-id",
    "x-billing-user-id",
    "idempotency-key",
)


def sign(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """Add ``Content-Digest`` and a fresh SVC-AUTH ``Authorization`` to ``headers`` (returned)."""
    headers["Content-Digest"] = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    nonce = secrets.token_hex(16)
    lower = {k.lower(): v for k, v in headers.items()}
    lines = [method, target, f"ts:{ts}", f"nonce:{nonce}"] + [f"{n}:{lower.get(n, '')}" for n in _SIGNED]
    mac = hmac.new(base64.b64decode(SECRET), "\n".join(lines).encode(), hashlib.sha256).digest()
    sig = base64.b64encode(mac).decode()
    headers["Authorization"] = f"SVC-AUTH keyId={KEY_ID},sig={sig},ts={ts},nonce={nonce},alg=HMAC-SHA256"
    return headers


class Server:
    """The loopback server process: ``with Server() as server``, then ``server.base`` is its ``http://`` origin."""

    def __enter__(self) -> Server:
        self._proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.base = f"http://127.0.0.1:{int(self._proc.stdout.readline())}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait()

    def last(self) -> dict[str, Any]:
        """The last request the server answered (before this look)."""
        with urllib.request.urlopen(self.base + "/_last") as response:  # noqa: S310 - our own loopback server
            seen: dict[str, Any] = json.loads(response.read())
        return seen


#: Headers that differ on every request (the signature's timestamp and nonce, a fresh idempotency key) or that the
#: HTTP library adds on its own; only their presence is compared.
VOLATILE = {"authorization", "idempotency-key", "host", "connection", "content-length"}


def same_request(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """How two requests seen by the server differ (empty: the same request, volatile values aside)."""
    problems = [f"{k}: {ours[k]!r} != {theirs[k]!r}" for k in ("method", "path", "body") if ours[k] != theirs[k]]
    a = {k.lower(): v for k, v in ours["headers"]}
    b = {k.lower(): v for k, v in theirs["headers"]}
    for name in sorted(set(a) | set(b)):
        if name == "connection":
            continue  # hop-by-hop: requests' Session says keep-alive out loud, urllib3 leaves it implied
        if name not in a or name not in b:
            problems.append(f"header {name} only in {'the client' if name in a else 'the baseline'}")
        elif name not in VOLATILE and a[name] != b[name]:
            problems.append(f"header {name}: {a[name]!r} != {b[name]!r}")
    return problems


def instructions(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions a process runs from start to exit, counted by valgrind's callgrind (its children run untraced).

    Unlike CPU time, the count barely moves when other processes load the machine; hash randomisation is fixed
    (``PYTHONHASHSEED=0``) so that two runs of the same program count (nearly) the same.
    """
    import os
    import re

    run_env = {**(env if env is not None else os.environ), "PYTHONHASHSEED": "0"}
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
    out = subprocess.run(command, env=run_env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no instruction count:\n" + out.stderr[-2000:])
    return int(found.group(1))
