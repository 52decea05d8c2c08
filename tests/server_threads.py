"""Servers the tests run on a thread of their own process (fake providers, receivers, live apps)."""

from __future__ import annotations

import threading
from socketserver import BaseServer

# How often `serve_forever` looks for a `shutdown()`: the standard library's half second would be
# waited again by every test that stops a server.
SHUTDOWN_CHECK_SECONDS = 0.02


def server_thread(server: BaseServer, name: str | None = None) -> threading.Thread:
    """A daemon thread (not started) that serves `server` until `server.shutdown()`."""
    return threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_CHECK_SECONDS}, name=name, daemon=True
    )
