"""Browser tests of Parley inside a CRM: the live app on http://localhost:PORT, CRM pages elsewhere.

Two tiny "CRM" servers on http://127.0.0.1 serve a page that frames a freshly signed launch URL,
as a real CRM would: one origin is in EMBED_ALLOWED_ORIGINS, the other is not. Chromium treats
localhost and 127.0.0.1 as different sites, so the frame is a genuine third-party frame.
"""

from __future__ import annotations

import html
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import make_app
from tests.server_threads import server_thread
from webapp.extensions import db

SECRET = "browser-test-embed-secret-" + "0123456789abcdef" * 2
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def sign_launch(sub: str, next_path: str | None = None) -> str:
    """What the CRM's server does for every page view (the README shows the same few lines)."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}
    if next_path:
        claims["next"] = next_path
    return jwt.encode(claims, SECRET, algorithm="HS256")


class CrmServer:
    """Serves /crm?sub=EMAIL&next=PATH: a CRM record page with Parley framed in it (or, with
    /crm?frame=PATH, that page of Parley framed without a launch)."""

    def __init__(self) -> None:
        self.app_url = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                sub = query.get("sub", ["standard@example.edu"])[0]
                token = sign_launch(sub, query.get("next", [None])[0])
                src = f"{outer.app_url}/embed/launch?{urlencode({'token': token})}"
                if "frame" in query:  # a page of the app framed as is, without a launch
                    src = outer.app_url + query["frame"][0]
                body = (
                    "<!doctype html><html><head><meta charset='utf-8'>"
                    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                    "<title>Acme CRM</title></head>"
                    "<body style='margin:0;font-family:sans-serif'>"
                    "<header style='padding:8px;background:#223'><span style='color:#fff'>Acme CRM"
                    " · Contact record</span></header>"
                    f"<iframe title='Parley' src='{html.escape(src)}'"
                    " style='display:block;width:100%;height:640px;border:0'></iframe>"
                    "</body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = server_thread(self.server)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class EmbedSite:
    app_url: str  # http://localhost:PORT
    crm: CrmServer  # allowed to frame Parley
    foreign_crm: CrmServer  # not allowed
    app: Flask


@pytest.fixture
def embed_site(app: Flask, database_url: str, tmp_path: Path) -> Iterator[EmbedSite]:
    """The live app (its own Flask app on the test database) plus two CRM servers.

    Depends on the `app` fixture so the live server stops before that fixture empties the tables.
    """
    crm, foreign = CrmServer(), CrmServer()
    live = make_app(
        database_url, tmp_path / "live", EMBED_SECRET=SECRET, EMBED_ALLOWED_ORIGINS=[crm.origin]
    )
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = server_thread(server)
    thread.start()
    app_url = f"http://localhost:{server.server_port}"
    crm.app_url = foreign.app_url = app_url
    # SQLite transactions start with BEGIN IMMEDIATE: end the test thread's before the browser runs.
    db.session.commit()
    db.session.remove()
    try:
        yield EmbedSite(app_url=app_url, crm=crm, foreign_crm=foreign, app=live)
    finally:
        server.shutdown()
        server.server_close()
        crm.close()
        foreign.close()
        with live.app_context():
            db.engine.dispose()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
