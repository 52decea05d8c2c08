"""`flask kb add` and `flask kb idk`: they work, and bad input gets a precise error, exit 1 and no
change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import KnowledgeBaseEntry, Office


@pytest.fixture
def cli(app, make):
    make.office("Admissions")
    runner = app.test_cli_runner()

    def run(*args: str):
        result = runner.invoke(args=list(args))
        db.session.rollback()  # see what the command committed, nothing else
        return result

    return run


def entry_count() -> int:
    return db.session.scalar(select(func.count()).select_from(KnowledgeBaseEntry))


def admissions() -> Office:
    db.session.expire_all()
    return db.session.scalar(select(Office).where(Office.name == "Admissions"))


def test_kb_add(cli):
    result = cli(
        "kb", "add", "admissions",
        "--question", "application deadline",
        "--question", "when are applications due",
        "--answer", "January 15.",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Added knowledge-base entry" in result.output
    assert "2 phrasings" in result.output
    entry = db.session.scalars(select(KnowledgeBaseEntry)).one()
    assert entry.phrasings == ["application deadline", "when are applications due"]
    assert entry.answer == "January 15."
    assert entry.office_id == admissions().id
    listing = cli("kb", "list", "Admissions")
    assert "application deadline | when are applications due" in listing.output
    assert "January 15." in listing.output
    # An entry kept before control characters were refused is listed with them written out.
    entry.answer = "Jan 15.\x1b[2J\nSee you!"
    db.session.commit()
    listing = cli("kb", "list", "Admissions")
    assert "Jan 15.\\x1b[2J\\nSee you!" in listing.output and "\x1b" not in listing.output
    again = cli("kb", "add", "Admissions", "--question", "Deadline to apply?", "--answer", "Jan 15.")
    assert again.exit_code == 0  # another phrasing: the bot weighs them, an admin may keep both
    same = cli("kb", "add", "Admissions", "--question", "Application deadline?", "--answer", "Soon.")
    assert same.exit_code == 1  # the bot reads it as the first entry's, punctuation and case aside
    assert "“Application deadline?” is already a phrasing of the entry" in same.output
    for reworded in ("deadline for the application", "When is the APPLICATION deadline?"):
        again = cli("kb", "add", "Admissions", "--question", reworded, "--answer", "Soon.")
        assert again.exit_code == 1  # filler words and word order aside, the same words
        assert (f"“{reworded}” has the same words, filler words and order aside, as “application "
                "deadline”, a phrasing of the entry") in again.output
    assert entry_count() == 2


@pytest.mark.parametrize(
    "args, error",
    [
        (["Nowhere", "--question", "deadline", "--answer", "Jan 15"], "No office named 'Nowhere'."),
        (
            ["Admissions", "--question", "", "--answer", "Jan 15"],
            "Enter at least one question phrasing or keyword.",
        ),
        (
            ["Admissions", "--question", "  \n ", "--answer", "Jan 15"],
            "Enter at least one question phrasing or keyword.",
        ),
        (
            ["Admissions", "--question", "?!", "--answer", "Jan 15"],
            "The phrasing “?!” has no word in it; write a question or a keyword.",
        ),
        (
            ["Admissions", "--question", "deadline", "--answer", ""],
            "Enter the answer the bot sends.",
        ),
        (
            ["Admissions", "--question", "deadline", "--answer", "   "],
            "Enter the answer the bot sends.",
        ),
        (
            ["Admissions", "--question", "deadline", "--answer", "\u3164\u200b"],  # a filler shows nothing
            "Enter the answer the bot sends.",
        ),
        (
            ["Admissions", "--question", "x" * 2000, "--answer", "Jan 15"],
            "Questions can be at most 1,000 characters in all; these have 2,000.",
        ),
        (
            ["Admissions", "--question", "deadline", "--answer", "y" * 1601],
            "An answer can be at most 1,600 characters",
        ),
        (["Admissions", "--answer", "Jan 15"], "Missing option '--question'"),
        (["Admissions", "--question", "deadline"], "Missing option '--answer'"),
    ],
)
def test_kb_add_bad_input(cli, args, error):
    result = cli("kb", "add", *args)
    assert result.exit_code == (2 if error.startswith("Missing option") else 1)  # 2: Click's usage
    assert error in result.output
    assert "Traceback" not in result.output
    assert entry_count() == 0


def test_kb_idk_message_and_escalate(cli):
    result = cli("kb", "idk", "Admissions", "--message", "A counselor will text you back soon.")
    assert result.exit_code == 0, result.output
    office = admissions()
    assert (office.idk_action, office.idk_message) == (
        "message",
        "A counselor will text you back soon.",
    )
    result = cli("kb", "idk", "Admissions", "--escalate")
    assert result.exit_code == 0, result.output
    assert "when the bot does not know, an agent takes over" in result.output
    assert admissions().idk_action == "escalate"


@pytest.mark.parametrize(
    "args, error",
    [
        (
            ["Admissions", "--escalate", "--message", "Hi"],
            "Choose either --escalate or --message TEXT, not both.",
        ),
        (
            ["Admissions"],
            "Choose what the bot does when it does not know: --escalate or --message TEXT.",
        ),
        (["Admissions", "--message", ""], "Enter the message the bot sends when it does not know."),
        (["Admissions", "--message", "\u2800"], "Enter the message the bot sends when it does not know."),
        (["Admissions", "--message", "z" * 1601], "The message can be at most 1,600 characters"),
        (["Nowhere", "--escalate"], "No office named 'Nowhere'."),
    ],
)
def test_kb_idk_bad_input(cli, args, error):
    cli("kb", "idk", "Admissions", "--message", "Before")
    result = cli("kb", "idk", *args)
    assert result.exit_code == 1
    assert error in result.output
    office = admissions()
    assert (office.idk_action, office.idk_message) == ("message", "Before")
