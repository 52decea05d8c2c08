"""Parley's own JavaScript and CSS are served minified (rjsmin, rcssmin): the files in static/
stay readable, comments and all, while the first load of the inbox stays small
(tests/test_page_weight.py). Vendor files come minified already and are served as they are."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from functools import lru_cache

import rcssmin
import rjsmin
from flask import Flask, abort, request
from flask.typing import ResponseReturnValue
from werkzeug.security import safe_join

MINIFIERS = {".js": (rjsmin.jsmin, "text/javascript"), ".css": (rcssmin.cssmin, "text/css")}


def register(app: Flask) -> None:
    """Serve .js and .css of static/ (outside vendor/) minified, under their usual URLs."""
    plain = app.view_functions["static"]

    def static(filename: str) -> ResponseReturnValue:
        kind = MINIFIERS.get(os.path.splitext(filename)[1])
        if kind is None or filename.startswith("vendor/"):
            return plain(filename=filename)
        path = safe_join(app.static_folder or "", filename)
        if path is None or not os.path.isfile(path):
            abort(404)
        stat = os.stat(path)
        body, tag = _minified(path, stat.st_mtime_ns, kind[0])
        # As Flask sends a static file: ETag, Last-Modified, its max age, ranges, 304s.
        response = app.response_class(body, mimetype=kind[1])
        response.set_etag(tag)
        response.last_modified = datetime.fromtimestamp(int(stat.st_mtime), UTC)
        max_age = app.get_send_file_max_age(filename)
        if max_age is None:
            response.cache_control.no_cache = True
        else:
            response.cache_control.public = True
            response.cache_control.max_age = max_age
        return response.make_conditional(request, accept_ranges=True, complete_length=len(body))

    app.view_functions["static"] = static


@lru_cache(maxsize=32)
def _minified(path: str, mtime_ns: int, minify) -> tuple[bytes, str]:
    """Minified once per version of the file (its modification time is part of the key)."""
    with open(path, encoding="utf-8") as source:
        body = minify(source.read()).encode("utf-8")
    return body, hashlib.sha256(body).hexdigest()[:32]
