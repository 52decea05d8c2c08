"""RFC 9457 problem documents: every error the API answers, whatever refused the request."""

from __future__ import annotations

import json

from flask import Response

MEDIA_TYPE = "application/problem+json"
# Problem types are relative references to their explanation on the reference page.
TYPE_BASE = "/api/v1/docs#problem-"

# The kind of problem each HTTP status gets when nothing more specific is known.
GENERIC = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "rate-limited",
    500: "server-error",
}


def problem(
    status: int,
    title: str,
    detail: str,
    kind: str | None = None,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "type": TYPE_BASE + (kind or GENERIC.get(status, "error")),
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
