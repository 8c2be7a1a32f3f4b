"""Client CPU per call over a real loopback socket: vluna_client vs bare urllib3 and bare requests.

The server runs in another process, so only the client's own CPU is counted (``time.process_time`` of this
process). Every contender signs its request the same way (SVC-AUTH over the exact bytes) and reads the whole
answer; only vluna_client also validates, decodes the envelope and builds typed models. Figures, not assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Callable

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
COMMIT = {
    "ok": True,
    "code": "OK",
    "data": {"commit_id": "c1", "amount_xusd": "12000", "cost_xusd": "0", "lines": []},
    "hints": [],
}
SERVER = r"""
import http.server, json, socket, sys
body = json.dumps(COMMIT_BODY).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, delayed ACKs hold each answer ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
""".replace("COMMIT_BODY", repr(COMMIT))
N = 1500
ROUNDS = 5


def signed_headers(path: str, body: bytes) -> dict[str, str]:
    """What a careful hand-written caller sends: the same headers and SVC-AUTH signature as the client."""
    from vluna_client._signing import ServiceKeySigner, content_digest

    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Realm-Id": "r",
        "X-Principal-Id": "org",
        "X-User-Id": "user",
        "Idempotency-Key": "k-1",
        "Content-Digest": content_digest(body),
    }
    headers["Authorization"] = ServiceKeySigner("pk-bench", SECRET).authorization("POST", path, headers)
    return headers


def cpu_per_call(call: Callable[[], object]) -> float:
    """Best of ROUNDS: client-process CPU seconds per call."""
    for _ in range(50):
        call()  # warm up: connection, caches
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(N):
            call()
        best = min(best, (time.process_time() - started) / N)
    return best


def main() -> None:
    import requests
    import urllib3

    from vluna_client import ServiceClient

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        path = "/mgt/v1/gate/commits"
        payload = {"feature_code": "llm.chat", "lease_token": "lease.x.y", "quantity_minor": "1200"}
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()

        pool = urllib3.PoolManager()

        def bare_urllib3() -> object:
            response = pool.request("POST", base + path, body=body, headers=signed_headers(path, body))
            return json.loads(response.data)

        session = requests.Session()

        def bare_requests() -> object:
            response = session.post(base + path, data=body, headers=signed_headers(path, body), timeout=(5, 30))
            return json.loads(response.content)

        client = ServiceClient(base_url=base + "/mgt/v1", realm_id="r", key_id="pk-bench", key_secret=SECRET)
        gate = client.bind(principal_id="org", user_id="user").gate

        def ours() -> object:
            return gate.commit(lease_token="lease.x.y", feature_code="llm.chat", quantity_minor=1200)

        figures = {name: cpu_per_call(fn) for name, fn in [("urllib3", bare_urllib3), ("requests", bare_requests)]}
        figures["vluna_client"] = cpu_per_call(ours)
        client.close()
    finally:
        server.terminate()
        server.wait()
    floor = figures["urllib3"]
    print(f"client CPU per signed POST over loopback (best of {ROUNDS} x {N}; server in another process):")
    for name, seconds in figures.items():
        print(f"  {name:13} {seconds * 1e6:7.0f} us   {seconds / floor:4.2f}x bare urllib3")
    print("  (vluna_client also validates the arguments, decodes the envelope and builds typed models)")


if __name__ == "__main__":
    main()
