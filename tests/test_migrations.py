"""The migrations build exactly the schema the models describe, so `make migrate` after a model
change writes only that change (the search index the database owns is left alone)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, Table

from webapp.extensions import db


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
