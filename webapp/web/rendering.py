"""One template per screen: the full page, or one of its named blocks for an htmx request."""

from __future__ import annotations

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


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
