"""A CRM's webhook endpoint for tests: a real HTTP receiver on 127.0.0.1 that records what Parley
posts to it, and the `webhooks add` command that points an office at it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

from tests.server_threads import server_thread
from webapp.extensions import db


@dataclass
class Receiver:
    """A CRM's webhook endpoint: answers with the next planned status (200 once they run out),
    or hangs for `hang` seconds."""

    url: str = ""
    planned: list[int] = field(default_factory=list)
    hang: float = 0.0
    requests: list[tuple[dict, str]] = field(default_factory=list)  # (headers, body) of each
    accepted: list[dict] = field(default_factory=list)  # verified bodies answered 2xx

    def verified(self, secret: str) -> list[dict]:
        return [Webhook(secret).verify(body, headers) for headers, body in self.requests]


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if state.hang:
                time.sleep(state.hang)
            status = state.planned.pop(0) if state.planned else 200
            if status < 300:
                state.accepted.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = server_thread(server)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/parley-events"
    yield state
    server.shutdown()
    thread.join(10)


def add_endpoint(app, url: str, *events: str, office: str = "Admissions") -> str:
    """Adds an endpoint of `office` with the command line; returns its signing secret."""
    args = ["webhooks", "add", url, "--office", office]
    for kind in events:
        args += ["--event", kind]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    db.session.rollback()
    return result.output.strip().splitlines()[-1]
