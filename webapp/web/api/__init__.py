"""The CRM API (/api/v1): JSON in and out, for a CRM's server, authenticated by an office's API key.

- `Authorization: Bearer KEY` on every request but the reference (the document and its page). The
  API never looks at the session cookie: a browser signed in to Parley is not signed in here, so
  a page elsewhere cannot make a visitor's browser call it, and CSRF tokens do not apply.
- Requests are validated by spectree against the pydantic models in `schemas`, the same models
  the OpenAPI document is generated from.
- Every error is an RFC 9457 problem document (`problems`).
- Each key has its own rate limit (`rate_limit`): over it, 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import HTTPException

from webapp.extensions import csrf, db
from webapp.services import api_keys, crm_api
from webapp.services.crm_api import ApiProblem
from webapp.transactions import discard_writes, read_first, request_only_reads, start_writing
from webapp.web.api import validation
from webapp.web.api.problems import problem
from webapp.web.api.rate_limit import KeyRateLimit
from webapp.web.api.schemas import Problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Endpoints anyone may read: the reference (the OpenAPI document and its page).
OPEN_ENDPOINTS = {"api.openapi", "api.docs"}


class ValidationFailed(Exception):
    def __init__(self, errors: list[dict], kinds: set[str], repeated: list[str]) -> None:
        super().__init__("invalid request")
        self.errors = errors
        # One problem type when every refused value is of one kind (a phone, the text).
        self.kind = kinds.pop() if len(kinds) == 1 else "invalid-request"
        self.repeated = repeated  # query parameters given more than once


def _refuse_invalid(req: Any, resp: Any, error: Any, instance: Any, *args: Any) -> None:
    """spectree's hook before a view: a request its models refused becomes a problem document."""
    if error is None:
        return
    errors, kinds, repeated = [], set(), []
    model = getattr(error, "title", "")
    # A parameter given twice reaches the model as a list of its values: its refusal would speak
    # of a wrong type, when which value was meant is the question (as with a body's names).
    twice = {name: values for name, values in req.args.lists() if len(values) > 1}
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__") or "body"
        if where in twice and item.get("input") == twice[where] and item.get("type") != "extra_forbidden":
            if where not in repeated:
                repeated.append(where)
                errors.append({"field": where, "message": "named more than once"})
                kinds.add("invalid-request")
            continue
        errors.append({"field": where, "message": validation.explain(model, where, item)})
        kinds.add(validation.kind_of(model, where, item))
    raise ValidationFailed(errors, kinds, repeated)


spec = SpecTree(
    "flask",
    mode="strict",  # only the API's own views, not the rest of the app
    title="Parley CRM API",
    version="1",
    description="Send and read an office's 1:1 texts from a CRM. The walkthrough is docs/api.md.",
    page_templates={},  # the reference page is our own (no CDN): see `reference`
    before=_refuse_invalid,
    validation_error_status=422,
    validation_error_model=Problem,  # what a refused request gets (`_invalid`), not spectree's list
    # Schemas named as their classes (no hash suffix), nested ones too: stable names for the
    # client generators that read the document.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[
        SecurityScheme(
            name="apiKey",
            data=SecuritySchemeData(type="http", scheme="bearer", description="An office's API key."),
        )
    ],
    security={"apiKey": []},
)


def _limit_key() -> str:
    """Per API key (by its hash, known before the key is looked up); per address without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "key:" + hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()
    return "addr:" + (request.remote_addr or "")


def _refusals_key() -> str:
    """Wrong keys, counted per address: each made-up key would otherwise have a budget of its own."""
    return "refused:" + (request.remote_addr or "")


csrf.exempt(bp)


def init_app(app: Flask) -> None:
    # One limiter per app (its settings and store); one budget per key across every operation.
    app.extensions["parley.api_rate_limit"] = KeyRateLimit(app)
    app.register_blueprint(bp)


def caller() -> api_keys.Caller:
    return g.api_caller


def _unauthorized(detail: str) -> Response:
    return problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="parley"'})


@bp.before_request
def _rate_limit() -> Response | None:
    """Before the key is looked up: a flood of requests with one key costs a counter, not a query
    each. Keys that are not valid cost a lookup each, and past their address's budget a 429."""
    rate_limit = current_app.extensions["parley.api_rate_limit"]
    retry_after = rate_limit.wait_seconds(_limit_key())
    if retry_after is None:
        return None
    return _too_many(f"This API key is limited to {rate_limit.limit()}.", retry_after)


def _too_many(detail: str, retry_after: int) -> Response:
    return problem(
        429, "Too many requests", f"{detail} Try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )  # fmt: skip


@bp.before_request
def authenticate() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _unauthorized(
            "Send your API key in the Authorization header: Authorization: Bearer KEY. An admin "
            "creates keys in Parley's admin console (API keys) or with `flask api-keys create`."
        )
    with read_first():
        found = api_keys.caller_for(token)
    if found is None:
        rate_limit = current_app.extensions["parley.api_rate_limit"]
        retry_after = rate_limit.wait_seconds(_refusals_key())
        if retry_after is not None:  # a valid key from this address is still answered
            detail = f"This address sent too many API keys that are not valid ({rate_limit.limit()})."
            return _too_many(detail, retry_after)
        return _unauthorized("This API key is not valid: it is mistyped, or it was revoked.")
    g.api_caller = found
    if api_keys.needs_last_used(found):
        if request_only_reads():
            start_writing()
        api_keys.mark_used(found)
        db.session.commit()
    return _check_body()


class RepeatedNames(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__("names repeated in a JSON object")
        self.names = names


def _named_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose fields are each named once: with a name twice, which value was meant
    is a guess (a JSON parser keeps the last), so the body is refused instead."""
    counts = Counter(name for name, _ in pairs)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise RepeatedNames(repeated)
    return dict(pairs)


class NotJsonValue(ValueError):
    """NaN, Infinity or -Infinity: Python's parser reads them, JSON has no such value."""


def _not_json_value(name: str) -> Any:
    raise NotJsonValue(name)


def _check_body() -> Response | None:
    if request.method != "POST":
        return None
    if request.mimetype != "application/json":
        return problem(
            415, "Unsupported media type", "Send the body as JSON, with Content-Type: application/json."
        )
    try:
        body = json.loads(request.get_data(), object_pairs_hook=_named_once, parse_constant=_not_json_value)
    except NotJsonValue as exc:
        return problem(
            400, "Malformed JSON", f"The body is not valid JSON: JSON has no {exc}.", kind="malformed-json"
        )
    except RepeatedNames as exc:
        names = ", ".join(exc.names)
        return problem(
            422, "Invalid request", f"The body names {names} more than once: name each field once.",
            errors=[{"field": name, "message": "named more than once"} for name in exc.names],
        )  # fmt: skip
    except RecursionError:
        return problem(
            400, "Malformed JSON", "The body nests arrays or objects deeper than Parley reads.",
            kind="malformed-json",
        )  # fmt: skip
    except (json.JSONDecodeError, UnicodeDecodeError):  # not JSON, or not UTF-8
        return problem(400, "Malformed JSON", "The body is not valid JSON.", kind="malformed-json")
    except ValueError:  # JSON, but with an integer Python will not read (over 4,300 digits)
        return problem(
            400, "Malformed JSON", "The body holds a number too long to read (over 4,300 digits).",
            kind="malformed-json",
        )  # fmt: skip
    if not isinstance(body, dict):
        return problem(
            422, "Invalid request", "The body must be a JSON object, e.g. "
            '{"from": "+12025550100", "to": "2025550143", "text": "Hello"}.',
            errors=[{"field": "body", "message": "not a JSON object"}],
        )  # fmt: skip
    return None


@bp.errorhandler(ApiProblem)
def _api_problem(error: ApiProblem) -> Response:
    discard_writes()
    return problem(error.status, error.title, error.detail, kind=error.kind, errors=error.errors)


@bp.errorhandler(ValidationFailed)
def _invalid(error: ValidationFailed) -> Response:
    others = [item["message"] for item in error.errors if item["field"] not in error.repeated]
    detail = f"{'; '.join(others)}. Fix and send again." if others else ""
    if error.repeated:
        names, each = ", ".join(error.repeated), "it" if len(error.repeated) == 1 else "each"
        detail = f"The query names {names} more than once; give {each} once. {detail}".rstrip()
    title = crm_api.TITLES.get(error.kind, "Invalid request")
    return problem(422, title, detail, error.kind, errors=error.errors)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    return problem(code, error.name, error.description or error.name)


from webapp.web.api import endpoints, reference, reports  # noqa: E402, F401
