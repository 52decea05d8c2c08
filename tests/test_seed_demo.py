"""`flask seed-demo` fills an empty database with the demo (what `make run` serves), and leaves
any other database as it was, in one line."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Campaign, Office, ReusableNumber, User


def counts() -> tuple[int, int, int, int]:
    db.session.rollback()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Office, User, ReusableNumber, Campaign)
    )


def test_the_demo_fills_an_empty_database_once(app):
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    assert "Log in as standard@example.edu / parley-demo (standard)" in seeded.output
    assert counts() == (1, 3, 2, 1)
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 1
    assert again.output == (
        "Error: The database already has offices or users; seed-demo only fills an empty database.\n"
    )
    quiet = runner.invoke(args=["seed-demo", "--if-empty"])
    assert (quiet.exit_code, quiet.output) == (0, "The database already has data; demo not seeded.\n")
    assert counts() == (1, 3, 2, 1)


def test_an_office_made_first_keeps_the_demo_out(app):
    """`offices create` before `make run`: the demo's office would clash with it (and a half-made
    demo would then stay behind), so nothing is seeded, in one line."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["offices", "create", "Admissions"]).exit_code == 0
    quiet = runner.invoke(args=["seed-demo", "--if-empty"])
    assert (quiet.exit_code, quiet.output) == (0, "The database already has data; demo not seeded.\n")
    refused = runner.invoke(args=["seed-demo"])
    assert refused.exit_code == 1 and refused.output.startswith("Error: The database already has offices")
    assert counts() == (1, 0, 0, 0)
