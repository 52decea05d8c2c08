"""Parley's own JavaScript and CSS are served minified: the files in static/ stay readable,
comments and all, while the first load of the inbox stays small (tests/test_page_weight.py).
JavaScript is parsed and its local names shortened (calmjs.parse); a file it cannot parse (newer
syntax than ES5) is only stripped of comments and spaces (rjsmin). CSS goes through rcssmin.
Vendor files come minified already and are served as they are."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from functools import lru_cache

import rcssmin
import rjsmin
from calmjs.parse import es5
from calmjs.parse.exceptions import ECMASyntaxError
from calmjs.parse.unparsers.es5 import minify_print
from flask import Flask, abort, request
from flask.typing import ResponseReturnValue
from werkzeug.security import safe_join


def minify_js(source: str) -> str:
    try:
        return minify_print(es5(source), obfuscate=True, obfuscate_globals=False)
    except ECMASyntaxError:
        return rjsmin.jsmin(source)


MINIFIERS = {".js": (minify_js, "text/javascript"), ".css": (rcssmin.cssmin, "text/css")}


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
