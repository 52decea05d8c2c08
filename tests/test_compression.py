"""Compressed responses: gzip or brotli when the client asks, plain when it does not."""

from __future__ import annotations

import gc
import gzip
import re
import warnings
from pathlib import Path

import brotli
import rcssmin

from tests.conftest import login
from webapp.web.static_assets import minify_js

STATIC = Path(__file__).resolve().parent.parent / "webapp" / "static"
CSS = "/static/css/app.css"


def without_csrf_tokens(html: str) -> str:
    """CSRF tokens are signed with a timestamp: two renderings of one page may differ only there."""
    return re.sub(r'(X-CSRFToken": "|name="csrf_token" value=")[^"]+', r"\1", html)


def vary(response) -> list[str]:
    return [part.strip().lower() for part in response.headers.get("Vary", "").split(",")]


def test_inbox_page_is_gzipped_when_asked_and_plain_otherwise(client, setup):
    login(client, "standard@example.edu")

    plain = client.get("/inbox")
    packed = client.get("/inbox", headers={"Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain.headers
    assert "accept-encoding" in vary(plain)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "accept-encoding" in vary(packed)
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
    unpacked = gzip.decompress(packed.data).decode()
    assert unpacked.startswith("<!doctype html>")
    assert without_csrf_tokens(unpacked) == without_csrf_tokens(plain.get_data(as_text=True))


def test_htmx_fragment_is_compressed_and_varies_on_both_headers(client, setup):
    login(client, "standard@example.edu")
    headers = {"HX-Request": "true", "Accept-Encoding": "br;q=1.0, gzip;q=0.8"}

    fragment = client.get("/inbox?tab=attention", headers=headers)

    assert fragment.headers["Content-Encoding"] == "br"
    assert {"hx-request", "accept-encoding"} <= set(vary(fragment))
    plain = client.get("/inbox?tab=attention", headers={"HX-Request": "true"})
    assert brotli.decompress(fragment.data) == plain.data


def test_static_css_is_gzipped_when_asked_and_plain_otherwise(client):
    on_disk = rcssmin.cssmin((STATIC / "css" / "app.css").read_text()).encode()  # served minified

    packed = client.get(CSS, headers={"Accept-Encoding": "gzip"})
    plain = client.get(CSS)

    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.mimetype == "text/css"
    assert gzip.decompress(packed.data) == on_disk
    assert "Content-Encoding" not in plain.headers
    assert plain.data == on_disk
    assert "accept-encoding" in vary(plain)
    # Cache headers stay as Flask sends them for static files: revalidate with the ETag.
    assert packed.headers["Cache-Control"] == plain.headers["Cache-Control"] == "no-cache"


def test_browser_accept_encoding_gets_brotli_for_scripts(client):
    on_disk = minify_js((STATIC / "js" / "app.js").read_text()).encode()  # served minified

    packed = client.get("/static/js/app.js", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})

    assert packed.headers["Content-Encoding"] == "br"
    assert brotli.decompress(packed.data) == on_disk


def test_identity_only_gets_plain(client):
    response = client.get(CSS, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers


def test_compressed_static_file_revalidates_with_304(client):
    first = client.get(CSS, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]

    again = client.get(CSS, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})

    assert again.status_code == 304
    assert again.data == b""


def test_closing_a_compressed_static_response_closes_its_file(client):
    etag = client.get(CSS, headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        client.get(CSS, headers={"Accept-Encoding": "gzip"}).close()
        client.get(CSS, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}).close()  # 304
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_range_request_is_not_compressed(client):
    response = client.get(CSS, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert response.status_code == 206
    assert "Content-Encoding" not in response.headers
    assert response.data == rcssmin.cssmin((STATIC / "css" / "app.css").read_text()).encode()[:100]


def test_tiny_responses_and_healthz_are_not_compressed(client):
    favicon = client.get("/static/favicon.svg", headers={"Accept-Encoding": "gzip"})
    assert len(favicon.data) < 500
    assert "Content-Encoding" not in favicon.headers

    health = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert health.data == b"ok"
    assert "Content-Encoding" not in health.headers
    assert "accept-encoding" not in vary(health)
