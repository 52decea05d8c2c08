"""The OpenAPI document is generated from the code that validates requests; Schemathesis checks,
against the running app, that the server does what the document says: every operation, with
valid and invalid requests (positive and negative), a few hundred examples in all."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.api.conftest import new_key
from tests.conftest import login
from tests.server_threads import server_thread
from webapp.extensions import db
from webapp.plugin_api import InboundMessage
from webapp.services import inbound
from webapp.web.api.schemas import CURSOR, IDEMPOTENCY_KEY

CONFIG = Path(__file__).with_name("schemathesis.toml")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass  # hundreds of requests: the report says what matters


def test_the_document_is_openapi_3_1_and_names_every_operation(app, crm):
    document = crm.client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert operations == {
        ("POST", "/api/v1/messages"),
        ("GET", "/api/v1/messages"),
        ("GET", "/api/v1/messages/{message_id}"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/conversations/{conversation_id}/messages"),
        ("GET", "/api/v1/contacts/lookup"),
        ("GET", "/api/v1/reports/summary"),
    }
    send = document["paths"]["/api/v1/messages"]["post"]
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "An office's API key."
    }
    assert "application/problem+json" in send["responses"]["422"]["content"]
    assert "Retry-After" in send["responses"]["429"]["headers"]
    key = next(p for p in send["parameters"] if p["name"] == "Idempotency-Key" and p["in"] == "header")
    # The document states every rule the server checks, on optional values too.
    assert key["schema"]["anyOf"][0]["pattern"] == IDEMPOTENCY_KEY
    assert "Idempotent-Replayed" in send["responses"]["202"]["headers"]
    listed = document["paths"]["/api/v1/conversations"]["get"]["parameters"]
    assert next(p for p in listed if p["name"] == "cursor")["schema"]["anyOf"][0]["pattern"] == CURSOR
    body = next(iter(send["requestBody"]["content"].values()))["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = document["components"]["schemas"][body]
    assert schema["required"] == ["from", "to", "text"] and schema["additionalProperties"] is False
    # Every field a message always carries is required, nullable ones too: a generated client
    # need not guard against a missing error_reason or send_at.
    message = document["components"]["schemas"]["MessageOut"]
    assert set(message["required"]) == set(message["properties"])


def test_the_reference_page_renders_the_document_without_a_key(app):
    client = app.test_client(use_cookies=False)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for expected in ("POST /api/v1/messages", "GET /api/v1/contacts/lookup", "Idempotency-Key",
                     "problem-opted-out", "Authorization: Bearer"):  # fmt: skip
        assert expected in text, expected
    assert "https://cdn" not in text and "<script" not in text  # our own static files only
    assert "Set-Cookie" not in page.headers


def test_the_reference_page_describes_every_activity_webhook(app, setup):
    """A CRM's developer reads how to verify the events and what each one holds, on the server."""
    from webapp.services.webhooks import EVENT_TYPES

    text = app.test_client(use_cookies=False).get("/api/v1/docs").get_data(as_text=True)
    assert 'id="webhooks"' in text and "webhook-signature" in text and "same <code>webhook-id</code>" in text
    schemas = {match for match in re.findall(r'id="schema-(\w+)"', text)}
    for kind in EVENT_TYPES:
        row = re.search(rf'<tr id="event-{re.escape(kind)}">(.*?)</tr>', text, re.S)
        assert row, kind
        linked = re.search(r'href="#schema-(\w+)"', row[1])
        assert linked is None or linked[1] in schemas, (kind, linked)
    # The admin console's webhooks page leads there.
    admin = app.test_client()
    login(admin, "admin@example.edu")
    assert 'href="/api/v1/docs#webhooks"' in admin.get("/admin/webhooks").get_data(as_text=True)


@pytest.fixture
def server(app, world) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1, as a CRM reaches it, with a conversation to read."""
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="Hi"), "console"
    )
    db.session.commit()
    http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = server_thread(http)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(10)


def test_schemathesis_finds_no_mismatch_between_the_document_and_the_server(server, world, tmp_path):
    key = new_key("Schemathesis", world["office"])
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG), "run",
        f"{server}/api/v1/openapi.json",
        "--checks", "all", "--mode", "all", "--max-examples", "40", "--seed", "20261202",
        "--header", f"Authorization: Bearer {key}", "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--request-timeout", "10",
        "--suppress-health-check", "all", "--no-color",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    # It really ran: every operation, hundreds of requests.
    assert "Operations:       7 selected / 7 total" in report, report[-3000:]
    generated = re.search(r"(\d+) generated", report)
    assert generated and int(generated[1]) >= 200, report[-3000:]


def _problem_types_in_code() -> set[str]:
    """Every problem type the API's code can answer: the generic one of each status, and each
    `kind` given to an ApiProblem or a problem document."""
    import ast

    from webapp.web.api.problems import GENERIC

    kinds = set(GENERIC.values()) | {"error"}  # "error": a status GENERIC does not name
    root = Path(__file__).parents[2] / "webapp"
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            values = [kw.value for kw in node.keywords if kw.arg == "kind"]
            if name == "ApiProblem" and len(node.args) > 1:
                values.append(node.args[1])
            if name in ("ApiProblem", "problem"):
                kinds |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return kinds


def test_every_problem_type_the_api_can_answer_has_an_anchor_on_the_reference_page(app):
    kinds = _problem_types_in_code()
    assert {"method-not-allowed", "opted-out", "cursor-mismatch", "invalid-range"} <= kinds
    page = app.test_client(use_cookies=False).get("/api/v1/docs").get_data(as_text=True)
    missing = sorted(kind for kind in kinds if f'id="problem-{kind}"' not in page)
    assert missing == []


def test_a_405_names_a_documented_problem_type(app, crm):
    response = crm.client.delete("/api/v1/messages", headers=crm.headers())
    assert response.status_code == 405
    kind = response.get_json()["type"]
    assert kind == "/api/v1/docs#problem-method-not-allowed"
    page = app.test_client(use_cookies=False).get(kind.split("#")[0]).get_data(as_text=True)
    assert f'id="{kind.split("#")[1]}"' in page


def test_every_error_an_operation_documents_is_a_problem_document(app, crm):
    """A generated client reads each error as the server sends it: a problem document, never
    spectree's list of validation errors; and a 422 only where a request can be refused so."""
    document = crm.client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
            for status, response in errors.items():
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)
            # A body over the size limit is refused whatever the method.
            assert "413" in errors, (method, path)
    get_message = document["paths"]["/api/v1/messages/{message_id}"]["get"]
    assert "422" not in get_message["responses"]  # nothing to validate: a bad id is 404
    assert not {"ValidationError", "ValidationErrorElement"} & set(document["components"]["schemas"])


@pytest.mark.parametrize("path", ["/api/v1/messages/1", "/api/v1/conversations?phone=2025550143"])
def test_a_get_with_a_body_over_the_limit_gets_the_documented_413(crm, path):
    response = crm.client.get(
        path, data="x" * (2 * 1024 * 1024), headers=crm.headers({"Content-Type": "text/plain"})
    )
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
