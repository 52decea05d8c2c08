"""Parley's commands on a database that was never migrated say so in one line, and what to run,
instead of a traceback about a missing table; `db upgrade` itself still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import make_app
from webapp import cli
from webapp.extensions import db

NO_TABLES = "Error: The database has no tables yet: run `flask --app webapp db upgrade` first.\n"


@pytest.mark.parametrize(
    "args",
    [
        ["seed-demo"],
        ["users", "create", "ada@example.edu", "--role", "admin", "--password", "correct-horse-battery"],
        ["offices", "create", "Admissions"],
        ["sms", "receive", "--from", "2025550143", "--to", "+12025550100", "--text", "Hi"],
    ],
)
def test_a_command_before_db_upgrade_says_to_run_it(tmp_path: Path, args):
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    app = make_app(url, tmp_path / "instance")
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert result.output == NO_TABLES
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_after_db_upgrade_the_commands_run(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = make_app(url, tmp_path / "instance")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert inspect(create_engine(url)).has_table("users")
    result = runner.invoke(args=["offices", "create", "Admissions"])
    assert result.exit_code == 0, result.output


def test_the_check_leaves_no_transaction_open(app):
    """The worker runs for days after it: a read left open would hold the database (SQLite's WAL
    could not be checkpointed past it; PostgreSQL would keep an idle transaction)."""
    db.session.remove()
    cli._require_tables()
    assert not db.session().in_transaction()


BEHIND = (
    "Error: The database lacks migrations this version of Parley needs: run `flask --app webapp db "
    "upgrade` first.\n"
)


def test_a_database_a_migration_behind_is_named_by_the_commands_and_readyz(tmp_path: Path):
    """Code updated, `db upgrade` forgotten: the commands say what to run (they ended in a traceback
    about a missing column) and /readyz keeps load balancers away (it answered "ready")."""
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    app = make_app(url, tmp_path / "instance", QUEUE_IMMEDIATE=False)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0021_webhook_secret_rotation"]).exit_code == 0
    result = runner.invoke(args=["offices", "create", "Admissions"])
    assert (result.exit_code, result.output) == (1, BEHIND)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_data(as_text=True) == "database not migrated (run `flask --app webapp db upgrade`)\n"

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["offices", "create", "Admissions"]).exit_code == 0
    assert app.test_client().get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_a_database_migrated_by_newer_code_is_not_behind(tmp_path: Path):
    """During a rolling upgrade the old processes meet a revision they do not know: still ready."""
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    app = make_app(url, tmp_path / "instance", QUEUE_IMMEDIATE=False)
    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    with create_engine(url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_newer_code'"))
    assert app.test_client().get("/readyz").status_code == 200
    assert app.test_cli_runner().invoke(args=["offices", "create", "Admissions"]).exit_code == 0
    with app.app_context():
        db.engine.dispose()
