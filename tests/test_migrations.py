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


def test_an_opt_out_from_before_numbers_were_kept_gets_the_number_its_stop_came_through(tmp_path):
    """Upgrading a database whose STOPs predate `opt_outs.number_id`: the number a STOP texted (its
    history's "texted +1…") is kept, so that office's admins may remove it, unless the phone also
    texted another office's number; an admin's opt-out or one with no number named stays as it was."""
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'before.db'}", tmp_path / "instance")
    runner = app.test_cli_runner()
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade", "0006_participant_inbox"]).exit_code == 0
        rows = {
            "offices": [(1, "Admissions"), (2, "Financial Aid")],
            "reusable_numbers": [(1, "+12025550100", 1), (2, "+12025550101", 1), (3, "+12025550200", 2)],
            # One phone texted two Admissions numbers; another texted Admissions and Financial Aid.
            "conversations": [(1, 1, "+12025550143"), (2, 2, "+12025550143"),
                              (3, 1, "+12025550178"), (4, 3, "+12025550178"), (5, 1, "+12025550199")],
            "opt_outs": [("+12025550143", "keyword"), ("+12025550178", "keyword"),
                         ("+12025550199", "admin"), ("+12025550155", "provider")],
            "opt_out_events": [(1, "+12025550143", "opt_out", "texted +12025550200"),  # opted in since
                               (2, "+12025550143", "opt_in", "texted +12025550200"),
                               (3, "+12025550143", "opt_out", "texted +12025550101"),
                               (4, "+12025550178", "opt_out", "texted +12025550100"),
                               (5, "+12025550199", "opt_out", "texted +12025550100"),
                               (6, "+12025550155", "opt_out", "")],
        }  # fmt: skip
        statements = {
            "offices": "INSERT INTO offices (id, name, help_text, created_at) "
            "VALUES (?, ?, '', '2026-11-01')",
            "reusable_numbers": "INSERT INTO reusable_numbers (id, phone, office_id, label, "
            "description, provider, backing, active, created_at) "
            "VALUES (?, ?, ?, '', '', 'console', 'agent', 1, '2026-11-01')",
            "conversations": "INSERT INTO conversations (id, number_id, contact_phone, mode, "
            "needs_attention, last_activity_at, last_message_preview, created_at) "
            "VALUES (?, ?, ?, 'agent', 0, '2026-11-01', '', '2026-11-01')",
            "opt_outs": "INSERT INTO opt_outs (phone, source, created_at) VALUES (?, ?, '2026-11-02')",
            "opt_out_events": "INSERT INTO opt_out_events (id, phone, action, source, detail, created_at) "
            "VALUES (?, ?, ?, 'keyword', ?, '2026-11-02')",
        }
        with db.engine.begin() as connection:
            for table, values in rows.items():
                connection.exec_driver_sql(statements[table], values)
        assert runner.invoke(args=["db", "upgrade", "0007_trust"]).exit_code == 0
        with db.engine.connect() as connection:
            kept = dict(connection.exec_driver_sql("SELECT phone, number_id FROM opt_outs").all())
        db.engine.dispose()
    assert kept == {"+12025550143": 2, "+12025550178": None, "+12025550199": None, "+12025550155": None}


def test_texts_from_before_keywords_were_kept_are_read_for_them(tmp_path):
    """Upgrading a database whose inbound texts predate `messages.keyword`: each STOP, START or
    HELP, however written, gets its reading, so the reports keep leaving it out of replies; a
    question, an agent's text that says "stop" and an erased text get none."""
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'before.db'}", tmp_path / "instance")
    runner = app.test_cli_runner()
    texts = [
        (1, "inbound", "STOP"), (2, "inbound", "stop😤"), (3, "inbound", "ＳＴＯＰ"),
        (4, "inbound", "Start!"), (5, "inbound", "help?"), (6, "inbound", "stop please"),
        (7, "outbound", "STOP"), (8, "inbound", ""), (9, "event", "Stop all"),
        (10, "inbound", "Take me off your list."), (11, "inbound", "Stop™"),
        (12, "inbound", "ⓈⓉⓄⓅ"),
    ]  # fmt: skip
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade", "0024_message_retries"]).exit_code == 0
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO offices (id, name, help_text, created_at) "
                "VALUES (1, 'Admissions', '', '2026-11-01')"
            )
            connection.exec_driver_sql(
                "INSERT INTO reusable_numbers (id, phone, office_id, label, description, provider, "
                "backing, active, created_at) "
                "VALUES (1, '+12025550100', 1, '', '', 'console', 'agent', 1, '2026-11-01')"
            )
            connection.exec_driver_sql(
                "INSERT INTO conversations (id, number_id, contact_phone, mode, needs_attention, "
                "last_activity_at, last_message_preview, created_at) "
                "VALUES (1, 1, '+12025550143', 'agent', 0, '2026-11-01', '', '2026-11-01')"
            )
            for row in texts:
                connection.exec_driver_sql(
                    "INSERT INTO messages (id, conversation_id, direction, body, media_urls, author_kind, "
                    "status, attempts, retries, held_by_quiet_hours, created_at, updated_at) "
                    "VALUES (?, 1, ?, ?, '[]', 'contact', 'received', 0, 0, 0, '2026-11-01', '2026-11-01')",
                    row,
                )
        assert runner.invoke(args=["db", "upgrade", "0025_message_keywords"]).exit_code == 0
        with db.engine.connect() as connection:
            read = dict(connection.exec_driver_sql("SELECT id, keyword FROM messages").all())
        db.engine.dispose()
    assert read == {1: "optout", 2: "optout", 3: "optout", 4: "optin", 5: "help", 6: None, 7: None, 8: None,
                    9: None, 10: "optout", 11: "optout", 12: "optout"}  # fmt: skip
