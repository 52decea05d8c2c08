"""What the fake provider APIs share: an HTTP server on 127.0.0.1, in a thread, that hands each POST
to the fake and can hold an answer back (a slow or hanging provider), and serves the files a test
puts there (a contact's pictures, as the provider keeps them) to GET."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.server_threads import server_thread


class FakeHttpApi:
    """Mixed into a fake: call `_serve()` once, implement `_handle(handler)`; use it as a context."""

    def _serve(self) -> None:
        self._release = threading.Event()
        self._lock = threading.Lock()
        # path -> (status, content type, body, Basic credentials it needs or None, Location or None,
        # seconds between each tenth of the body)
        self.files: dict[str, tuple[int, str, bytes, str | None, str | None, float]] = {}
        self.downloads: list[tuple[str, str | None]] = []  # (path, Authorization header) of each GET
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._get(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = server_thread(self._server)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def serve_file(
        self, path: str, body: bytes, content_type: str = "image/png", status: int = 200,
        credentials: str | None = None, location: str | None = None, pause: float = 0.0,
    ) -> str:  # fmt: skip
        """Serve `body` at `path` (to GET, with `credentials` "user:password" if given, or a
        redirect to `location`; in ten pieces `pause` seconds apart if given); its URL."""
        self.files[path] = (status, content_type, body, credentials, location, pause)
        return self.url + path

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        authorization = handler.headers.get("Authorization")
        with self._lock:
            self.downloads.append((handler.path, authorization))
        missing = (404, "text/plain", b"", None, None, 0.0)
        status, content_type, body, credentials, location, pause = self.files.get(handler.path, missing)
        if credentials and authorization != "Basic " + base64.b64encode(credentials.encode()).decode():
            status, content_type, body = 401, "text/plain", b"Unauthorized"
        try:
            handler.send_response(status)
            if location:
                handler.send_header("Location", location)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            step = -(-len(body) // 10) if pause else len(body) or 1
            for start in range(0, len(body), step):
                if start and not self._wait(pause):
                    return
                handler.wfile.write(body[start : start + step])
                handler.wfile.flush()
        except OSError:
            pass

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # let hanging handlers finish
        self._server.shutdown()
        self._server.server_close()

    def _wait(self, delay: float | None) -> bool:
        """Hold the answer `delay` seconds; None: hang (the client gives up first). False when
        there is no answer to give."""
        if delay is None:
            self._release.wait(30)
            return False
        if delay:
            self._release.wait(delay)
        return True

    @staticmethod
    def _respond(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout)
