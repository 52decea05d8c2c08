"""The migrations build exactly the schema the models describe, so `make migrate` after a model
change writes only that change (the search index the database owns is left alone)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Column, Integer, Table

from webapp.extensions import db

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


def test_migration_files_are_numbered_in_chain_order():
    """A newcomer reads the migrations in file order: the Nth in the chain is file N (the
    revision ids inside stay as they were)."""
    revisions = {}
    for path in VERSIONS.glob("*.py"):
        source = path.read_text()
        revision = re.search(r"^revision = [\"']([^\"']+)", source, re.M).group(1)
        parent = re.search(r"^down_revision = [\"']?([^\"'\n]+)", source, re.M).group(1)
        revisions[None if parent == "None" else parent] = (revision, path.name)
    chain, parent = [], None
    while parent in revisions:
        parent, name = revisions.pop(parent)
        chain.append(name)
    assert not revisions, f"not in the one chain: {revisions}"
    assert [name[:4] for name in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)], chain


def test_the_migrated_database_matches_the_models(app):
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_a_model_change_without_its_migration_is_found(app):
    extra = Table("not_migrated", db.metadata, Column("id", Integer, primary_key=True))
    try:
        result = app.test_cli_runner().invoke(args=["db", "check"])
    finally:
        db.metadata.remove(extra)
    assert result.exit_code != 0


def test_the_newest_migration_can_be_undone_and_done_again(app):
    """`flask db downgrade` undoes the newest migration (its triggers and functions too), and
    `flask db upgrade` then builds again exactly what the models describe."""
    runner = app.test_cli_runner()
    try:
        undone = runner.invoke(args=["db", "downgrade"])
        assert undone.exit_code == 0, undone.output
        assert runner.invoke(args=["db", "check"]).exit_code != 0  # the models are ahead of it
    finally:
        redone = runner.invoke(args=["db", "upgrade"])
    assert redone.exit_code == 0, redone.output
    checked = runner.invoke(args=["db", "check"])
    assert checked.exit_code == 0, checked.output
