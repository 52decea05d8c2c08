"""One template per screen: the full page, or one of its named blocks for an htmx request."""

from __future__ import annotations

import re

from flask import Response, make_response, render_template, request
from jinja2.ext import Extension
from jinja2_fragments.flask import render_block

INDENTATION = re.compile(r"^[ \t]+", re.MULTILINE)


class DedentHtml(Extension):
    """Drops the indentation of every line of an .html template when it is compiled (once, not per
    request), so pages are smaller to render and send. The sources stay indented for people.

    Safe for HTML because every line break stays, so words and inline elements keep their space.
    Whitespace does matter inside <pre>, <textarea> and `white-space: pre*` elements: keep what the
    template puts there on one line (the message and answer bodies are variables, never touched).
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if name is None or not name.endswith(".html"):
            return source
        return INDENTATION.sub("", source)


def wants_fragment() -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def render_screen(template: str, block: str, status: int = 200, **context: object) -> Response:
    """The named block for htmx, the whole page otherwise; `Vary` keeps caches honest."""
    if wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.headers["Vary"] = "HX-Request"
    return response


def redirect_to(url: str) -> Response:
    """After a successful form: htmx navigates with HX-Redirect, plain forms get a 303."""
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": url})
    response = make_response("", 303)
    response.headers["Location"] = url
    return response
