"""Parley's commands on a database that was never migrated say so in one line, and what to run,
instead of a traceback about a missing table; `db upgrade` itself still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

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
