"""A tiny threaded HTTP/1.0 server on 127.0.0.1 that records requests: for what only the real wire shows."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Dict, List


class Recorded:
    """One request as the server received it: raw request target, header list, body bytes."""

    def __init__(self, method: str, target: str, headers: List[Any], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers  # [(name, value), ...] as received
        self.body = body

    def header_map(self) -> Dict[str, str]:
        """Lower-cased names; repeated headers joined with ',' as the server does (§3.2)."""
        out: Dict[str, str] = {}
        for name, value in self.headers:
            key = name.lower()
            out[key] = value if key not in out else out[key] + "," + value
        return out


class LocalServer:
    """A tiny threaded HTTP/1.0 server that records requests and answers from a queue of (status, body)."""

    def __init__(self) -> None:
        self.received: List[Recorded] = []
        self.answers: List[Any] = []
        self.default = (200, {"ok": True, "code": "OK", "data": []})
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.received.append(Recorded(self.command, self.path, list(self.headers.items()), body))
                status, payload = owner.answers.pop(0) if owner.answers else owner.default
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
