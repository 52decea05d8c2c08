"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with DATABASE_URL), the app,
a client, logins and small factories."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text
from werkzeug.security import generate_password_hash

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import ReusableNumber, User
from webapp.services import directory

PASSWORD = "correct-horse-battery"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="write the browser tests' screenshots over the README's (docs/screenshots/)",
    )


def _worker_database(url: str, worker: str) -> str:
    """Under pytest-xdist, each worker's own PostgreSQL database beside DATABASE_URL's (`<name>_gw1`),
    made afresh through the server's `postgres` database: workers never share tables."""
    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker}")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    admin.dispose()
    return own.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database, built by the migrations (not create_all) once per test run (per pytest-xdist
    worker: SQLite in the worker's own temporary folder, PostgreSQL in a database of its own)."""
    url = os.environ.get("DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url and worker and make_url(url).get_backend_name() == "postgresql":
        url = _worker_database(url, worker)
    if url:
        engine = create_engine(url)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'parley-test.db'}"
    instance = tmp_path_factory.mktemp("instance")
    app = create_app(TestConfig(str(instance), url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory for the whole run. Every test builds an app of its
    own, and each app would otherwise parse and compile again every template it renders. Jinja keys
    each entry by the template's name and checks its source's checksum, so an edited template is
    compiled afresh; every test app sets up Jinja the same way (create_app), so they can share."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def make_app(database_url: str, instance: Path, **overrides: object) -> Flask:
    config = TestConfig(str(instance), database_url)
    for key, value in overrides.items():
        setattr(config, key, value)
    app = create_app(config)
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    return app


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    with serving(make_app(database_url, tmp_path)) as app:
        yield app


@pytest.fixture
def sms_receive(app):
    """A contact's text to the Admissions number, through the real `flask sms receive` command
    (some modules define their own, with defaults of their own)."""

    def receive(text: str, from_phone: str, to: str = "+12025550100") -> None:
        db.session.commit()
        result = app.test_cli_runner().invoke(
            args=["sms", "receive", "--from", from_phone, "--to", to, "--text", text]
        )
        assert result.exit_code == 0, result.output

    return receive


@contextlib.contextmanager
def serving(app: Flask) -> Iterator[Flask]:
    """The app as a test uses it: isolated requests, inside its context, its tables emptied after
    (for fixtures that override `app` with other settings)."""
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g` and database session), as in production.

    The test's own session ends its transaction first, so a request never waits on the test's lock.
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password hash costs about 0.1 s of CPU by design (scrypt), and most tests create and sign in
    several users: they get a cheap hash instead. A test marked `real_password_hashing` keeps scrypt."""
    if request.node.get_closest_marker("real_password_hashing"):
        return
    monkeypatch.setattr(
        "webapp.models.org.generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"),
    )


@pytest.fixture
def clock():
    """A controllable clock: the time everywhere in the app (utcnow, datetime.now, time.time)
    stands still at a Monday 10:00 in New York until the test moves it, with
    `clock.move_to(moment)` or `clock.shift(timedelta)`: time-dependent rules are tested
    without sleeping."""
    import time_machine

    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def csv_rows(response) -> list[list[str]]:
    """A CSV download's rows, read as Excel reads it: it starts with UTF-8's byte order mark, so
    that a double-click in Windows does not read it as Windows-1252."""
    data = response.get_data()
    assert data.startswith(codecs.BOM_UTF8), data[:20]
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def login(client: FlaskClient, email: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


class Factory:
    """Builds offices, users and numbers through the same services the CLI uses."""

    def office(self, name: str = "Admissions"):
        office = directory.create_office(name)
        db.session.commit()
        return office

    def user(
        self, email: str, role: str = "standard", offices: tuple[str, ...] = ("Admissions",),
        name: str | None = None,
    ) -> User:
        user = directory.create_user(email, role, PASSWORD, name=name, office_names=offices)
        db.session.commit()
        return user

    def number(
        self,
        phone: str = "+12025550100",
        office: str = "Admissions",
        backing: str = "agent",
        agents: tuple[str, ...] = (),
        inboxes: tuple[str, ...] = (),
        label: str = "Admissions Main",
        provider: str = "console",
    ) -> ReusableNumber:
        number = directory.add_number(
            phone, office, provider, backing, enabled_providers=[provider],
            agent_emails=agents, inbox_offices=inboxes, label=label,
        )
        db.session.commit()
        return number


@pytest.fixture
def make(app: Flask) -> Factory:
    return Factory()


@pytest.fixture
def setup(make: Factory) -> dict:
    """One office, a user of each role, an agent-backed number assigned to the office inbox."""
    office = make.office("Admissions")
    users = {
        "admin": make.user("admin@example.edu", "admin", name="Alex Admin"),
        "standard": make.user("standard@example.edu", "standard", name="Sam Standard"),
        "limited": make.user("limited@example.edu", "limited", name="Lee Limited"),
    }
    number = make.number(inboxes=("Admissions",))
    return {"office": office, "users": users, "number": number}


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """The one Debian Chromium of a test run, shared by every browser suite: Playwright's sync API
    allows a single running instance per thread, so a second suite starting its own would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()
