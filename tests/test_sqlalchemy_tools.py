"""An operator's SQLAlchemy tools see every statement Parley runs: Flask-SQLAlchemy's recorded
queries (`SQLALCHEMY_RECORD_QUERIES`) and the engine's echo (`SQLALCHEMY_ECHO`). On both databases."""

from __future__ import annotations

import logging
from pathlib import Path

from flask_sqlalchemy.record_queries import get_recorded_queries

from tests.conftest import IsolatedClient, login, make_app
from webapp.extensions import db

HTMX = {"HX-Request": "true"}


def test_a_signed_in_inbox_request_records_its_statements(setup, database_url: str, tmp_path: Path):
    recording = make_app(database_url, tmp_path / "recording", SQLALCHEMY_RECORD_QUERIES=True)
    recording.test_client_class = IsolatedClient
    recorded: list[str] = []

    @recording.after_request
    def note(response):
        recorded.extend(query.statement for query in get_recorded_queries())
        return response

    client = recording.test_client()
    try:
        login(client, "standard@example.edu")
        recorded.clear()
        response = client.get("/inbox?tab=attention", headers=HTMX)
    finally:
        with recording.app_context():
            db.engine.dispose()
    assert response.status_code == 200 and "Needs Attention" in response.get_data(as_text=True)
    assert any("FROM users" in statement for statement in recorded), recorded  # the signed-in user
    assert any("FROM conversation" in statement for statement in recorded), recorded  # the tab


def test_echo_logs_the_statements_of_a_request(setup, database_url: str, tmp_path: Path, caplog):
    echoing = make_app(database_url, tmp_path / "echoing", SQLALCHEMY_ECHO=True)
    echoing.test_client_class = IsolatedClient
    client = echoing.test_client()
    try:
        login(client, "standard@example.edu")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            response = client.get("/inbox?tab=attention", headers=HTMX)
    finally:
        with echoing.app_context():
            db.engine.dispose()
    assert response.status_code == 200
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("sqlalchemy.engine")]
    assert any("FROM users" in message for message in logged), logged
    assert any("FROM conversation" in message for message in logged), logged
