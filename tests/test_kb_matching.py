"""The knowledge-base bot's matching: robust to case, punctuation, word order and small typos,
and it does not answer what it does not know."""

from __future__ import annotations

import pytest

from plugins.kb_bot import KnowledgeBaseBot
from plugins.kb_bot.matching import DEFAULT_THRESHOLD, Candidate, best_match, content_words
from webapp.extensions import db
from webapp.plugin_api import BotContext, InboundMessage
from webapp.plugin_api.registry import PluginError, load_plugins
from webapp.services import knowledge_base

ENTRIES = [
    Candidate(
        1, ("application deadline", "when are applications due", "last day to apply"), "DEADLINE"
    ),
    Candidate(2, ("campus visit", "campus tour", "schedule a tour"), "VISIT"),
    Candidate(3, ("transcripts", "send my transcript"), "TRANSCRIPT"),
    Candidate(4, ("application fee", "fee waiver"), "FEE"),
    Candidate(5, ("стипендия", "奖学金", "장학금"), "SCHOLARSHIP"),
]


def answer(question: str) -> str | None:
    match = best_match(question, ENTRIES)
    if match is None or match.score < DEFAULT_THRESHOLD:
        return None
    return match.candidate.answer


@pytest.mark.parametrize(
    "question, expected",
    [
        ("application deadline", "DEADLINE"),
        ("APPLICATION DEADLINE", "DEADLINE"),  # case
        ("What's the application deadline?!", "DEADLINE"),  # punctuation, filler words
        ("deadline for the application", "DEADLINE"),  # word order
        ("when is the aplication dedline", "DEADLINE"),  # typos
        ("When are applications due?", "DEADLINE"),
        ("Can I visit the campus?", "VISIT"),  # order and filler
        ("i want to schedule a campus tuor next week", "VISIT"),  # a keyword inside a longer text
        ("how do I send my transcrips", "TRANSCRIPT"),  # plural + typo
        ("Transcripts.", "TRANSCRIPT"),
        ("Is there a fee waivr?", "FEE"),
        ("Café hours?", None),  # accents are folded, and still nothing matches
        ("Стипендия?", "SCHOLARSHIP"),  # other scripts have words too
        ("奖学金", "SCHOLARSHIP"),
        ("장학금 있어요?", "SCHOLARSHIP"),
        ("Do you have a marching band?", None),  # unknown
        ("application", None),  # ambiguous: shared by two entries, answers neither
        ("hello", None),
        ("thanks!", None),
        ("", None),
        ("?!?", None),
    ],
)
def test_matching(question, expected):
    assert answer(question) == expected


def test_the_best_entry_wins_and_reports_its_phrasing_and_confidence():
    match = best_match("when is the deadline for the application", ENTRIES)
    assert match.candidate.id == 1
    assert match.phrasing == "application deadline"
    assert match.score == 100
    weaker = best_match("when is the aplication dedline", ENTRIES)
    assert DEFAULT_THRESHOLD <= weaker.score < 100


def test_a_specific_phrasing_wins_over_a_keyword_the_question_also_contains():
    """Asked "FAFSA deadline", both the keyword "FAFSA" and the phrasing "FAFSA deadline" are in the
    question: the one that explains more of it answers, whichever entry came first."""
    general = Candidate(1, ("FAFSA",), "ABOUT FAFSA")
    specific = Candidate(2, ("FAFSA deadline",), "MARCH 1")
    for entries in ([general, specific], [specific, general]):
        assert best_match("When is the FAFSA deadline?", entries).candidate.answer == "MARCH 1"
        assert best_match("deadline for the fafsa", entries).candidate.answer == "MARCH 1"
        assert best_match("What is the FAFSA?", entries).candidate.answer == "ABOUT FAFSA"


def test_a_keyword_lost_in_a_very_long_text_does_not_answer():
    filler = " ".join(f"word{i}" for i in range(300))
    assert answer(f"{filler} deadline application") is None
    assert answer("x" * 2000) is None


def test_normalisation():
    assert content_words("When's the DEADLINE, please?") == ["whens", "deadline"]
    assert content_words("hi") == ["hi"]  # only filler: kept, so "hi" can be a phrasing
    assert content_words("Есть ли СТИПЕНДИИ?") == ["есть", "ли", "стипендии"]


def test_the_bot_answers_from_its_own_office_only(app, make):
    admissions = make.office("Admissions")
    aid = make.office("Financial Aid")
    knowledge_base.add_entry(admissions, "application deadline", "Admissions: Jan 15")
    knowledge_base.add_entry(aid, "fafsa deadline", "Aid: FAFSA by March 1")
    admissions, aid = admissions.id, aid.id
    db.session.commit()  # the bot reads on its own connection: hold no SQLite lock here
    bot = app.extensions["parley"].bots["kb"]
    assert isinstance(bot, KnowledgeBaseBot)

    def ask(office_id, text):
        context = BotContext(conversation_id=None, office_id=office_id, contact_phone="")
        return bot.reply(context, InboundMessage(from_phone="", to_phone="", body=text))

    assert ask(admissions, "application deadline").text == "Admissions: Jan 15"
    assert ask(aid, "application deadline").text is None
    assert ask(aid, "FAFSA deadline?").text == "Aid: FAFSA by March 1"
    miss = ask(admissions, "fafsa deadline")
    assert miss.text is None and miss.escalate is False  # "I don't know": the office decides


def test_bots_are_enabled_by_config(app):
    assert list(app.extensions["parley"].bots) == ["kb"]
    assert list(load_plugins({"BOTS": []}).bots) == []
    with pytest.raises(PluginError, match="'nosuchbot'.*not installed"):
        load_plugins({"BOTS": ["nosuchbot"]})
    with pytest.raises(PluginError, match="KB_MATCH_THRESHOLD"):
        load_plugins({"BOTS": ["kb"], "KB_MATCH_THRESHOLD": 300})
