"""The knowledge base (per office: question phrasings → answer) and each office's "I don't know".

The only writer of knowledge-base records: the admin pages and the `kb` commands come here; the
knowledge-base bot plugin only reads them. Every change is audited: it changes what the bot tells
contacts in the office's name.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import (
    Backing,
    IdkAction,
    KnowledgeBaseEntry,
    Office,
    ReusableNumber,
    User,
    office_memberships,
)
from webapp.plugin_api.questions import content_words, normalise
from webapp.services import audit
from webapp.services.segments import (
    MAX_MESSAGE_LENGTH,
    OTHER_LINE_BREAKS,
    control_character_problem,
    shows_nothing,
)

# All phrasings of one entry together. Generous for a list of ways to ask one thing, small enough
# that nobody pastes a document in by mistake.
MAX_QUESTION_LENGTH = 1000
# An answer (and the IDK message) is sent as one text: the same limit as an agent's message.
MAX_ANSWER_LENGTH = MAX_MESSAGE_LENGTH
# The admin's "try a question" box takes what a contact could send.
MAX_TRIAL_LENGTH = MAX_MESSAGE_LENGTH


class KnowledgeBaseError(ValueError):
    """Bad input; nothing was changed. `errors` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class NotAllowed(Exception):
    """The user may not manage this office's knowledge base (answered 403)."""


# ---- Who may manage what ----


def managed_offices(user: User) -> list[Office]:
    """Offices whose knowledge base the user manages: an admin's own offices."""
    if not user.is_admin:
        return []
    return list(
        db.session.scalars(
            select(Office)
            .join(office_memberships, office_memberships.c.office_id == Office.id)
            .where(office_memberships.c.user_id == user.id)
            .order_by(Office.name)
        )
    )


def managed_office(user: User, office_id: int) -> Office:
    """The office, when the user is an admin in it; NotAllowed otherwise."""
    if not user.is_admin:
        raise NotAllowed("Only Texting - Administrative users manage the knowledge base.")
    office = db.session.scalar(
        select(Office)
        .join(office_memberships, office_memberships.c.office_id == Office.id)
        .where(Office.id == office_id, office_memberships.c.user_id == user.id)
    )
    if office is None:
        raise NotAllowed("You can only manage the knowledge base of your own offices.")
    return office


def bot_numbers(office: Office) -> list[ReusableNumber]:
    """The office's active bot-backed numbers: where its knowledge base answers."""
    return list(
        db.session.scalars(
            select(ReusableNumber)
            .where(
                ReusableNumber.office_id == office.id,
                ReusableNumber.backing == Backing.BOT,
                ReusableNumber.active.is_(True),
            )
            .order_by(ReusableNumber.label, ReusableNumber.phone)
        )
    )


# ---- Entries ----


def entries(office: Office) -> list[KnowledgeBaseEntry]:
    """The office's entries, oldest first (the order ties are broken in), editors loaded at once."""
    return list(
        db.session.scalars(
            select(KnowledgeBaseEntry)
            .options(joinedload(KnowledgeBaseEntry.updated_by))
            .where(KnowledgeBaseEntry.office_id == office.id)
            .order_by(KnowledgeBaseEntry.id)
        )
    )


def entry(office: Office, entry_id: int) -> KnowledgeBaseEntry | None:
    """One of the office's entries (None for another office's or a missing one)."""
    return db.session.scalar(
        select(KnowledgeBaseEntry).where(
            KnowledgeBaseEntry.id == entry_id, KnowledgeBaseEntry.office_id == office.id
        )
    )


def clean_question(question: str | None) -> str:
    """Phrasings one per line: trimmed, blank lines and repeats dropped."""
    seen: set[str] = set()
    lines = []
    for line in (question or "").replace("\r\n", "\n").split("\n"):
        line = " ".join(line.split())
        if line and line.casefold() not in seen:
            seen.add(line.casefold())
            lines.append(line)
    return "\n".join(lines)


def validate_entry(question: str | None, answer: str | None) -> tuple[str, str]:
    errors = {}
    cleaned_question = clean_question((question or "").translate(OTHER_LINE_BREAKS))
    lines = cleaned_question.split("\n")
    wordless = next((line for line in lines if not any(char.isalnum() for char in line)), None)
    if not cleaned_question:
        errors["question"] = "Enter at least one question phrasing or keyword."
    elif wordless:  # punctuation alone: the bot reads words only
        errors["question"] = f"The phrasing “{wordless}” has no word in it; write a question or a keyword."
    elif problem := control_character_problem(cleaned_question):  # listed by `kb list` as written
        errors["question"] = problem
    elif len(cleaned_question) > MAX_QUESTION_LENGTH:
        errors["question"] = (
            f"Questions can be at most {MAX_QUESTION_LENGTH:,} characters in all; "
            f"these have {len(cleaned_question):,}."
        )
    cleaned_answer = (answer or "").replace("\r\n", "\n").translate(OTHER_LINE_BREAKS).strip()
    if shows_nothing(cleaned_answer):
        errors["answer"] = "Enter the answer the bot sends."
    elif problem := control_character_problem(cleaned_answer):
        errors["answer"] = problem
    elif len(cleaned_answer) > MAX_ANSWER_LENGTH:
        errors["answer"] = (
            f"An answer can be at most {MAX_ANSWER_LENGTH:,} characters (it is sent as one text); "
            f"this one has {len(cleaned_answer):,}."
        )
    if errors:
        raise KnowledgeBaseError(errors)
    return cleaned_question, cleaned_answer


def _entry_name(question: str) -> str:
    """An entry as the audit log names it: its first phrasing, quoted, and how many others."""
    phrasings = [line for line in question.split("\n") if line]
    first = phrasings[0] if phrasings else ""
    if len(first) > 80:
        first = first[:79] + "…"
    more = len(phrasings) - 1
    return f"“{first}”" + (f" (and {more} other phrasing{'s' if more != 1 else ''})" if more else "")


def _as_the_bot_reads(phrasing: str) -> str:
    """A phrasing's content words, in any order ("When is the campus tour?" is "campus tour", as
    is "tour of the campus"): two phrasings with the same ones match every text alike, so the bot
    answers with the first entry alone. One of punctuation alone is compared as typed."""
    return " ".join(sorted(set(content_words(phrasing)))) or phrasing.casefold()


def _refuse_phrasings_of_others(
    office_id: int, question: str, existing: KnowledgeBaseEntry | None = None
) -> None:
    """A new phrasing belongs to one entry: in two, the bot would answer it with the first alone.
    An entry's own phrasings stay (twins saved before this check included)."""
    had = {_as_the_bot_reads(line) for line in existing.question.split("\n")} if existing else set()
    new = [line for line in question.split("\n") if _as_the_bot_reads(line) not in had]
    others = select(KnowledgeBaseEntry.question).where(KnowledgeBaseEntry.office_id == office_id)
    if existing is not None:
        others = others.where(KnowledgeBaseEntry.id != existing.id)
    for other in db.session.scalars(others) if new else ():
        taken = {_as_the_bot_reads(line): line for line in other.split("\n")}
        clash = next((line for line in new if _as_the_bot_reads(line) in taken), None)
        if clash is not None:
            theirs = taken[_as_the_bot_reads(clash)]
            said = (
                "is already a phrasing of" if normalise(clash) == normalise(theirs)
                else f"has the same words, filler words and order aside, as “{theirs}”, a phrasing of"
            )  # fmt: skip
            raise KnowledgeBaseError({
                "question": f"“{clash}” {said} the entry {_entry_name(other)}, whose answer the bot "
                "sends for it: change that entry, or leave this phrasing out.",
            })  # fmt: skip


def add_entry(
    office: Office, question: str | None, answer: str | None, user: User | None = None
) -> KnowledgeBaseEntry:
    """A new entry (audited; `user` None for the command line); the caller commits."""
    cleaned_question, cleaned_answer = validate_entry(question, answer)
    _refuse_phrasings_of_others(office.id, cleaned_question)
    new = KnowledgeBaseEntry(
        office_id=office.id,
        question=cleaned_question,
        answer=cleaned_answer,
        updated_by_id=user.id if user else None,
    )
    db.session.add(new)
    db.session.flush()
    audit.record(
        user, "kb.entry_added",
        f"Knowledge base of {office.name}: added {_entry_name(cleaned_question)}",
        [office], {"entry_id": new.id},
    )  # fmt: skip
    return new


def update_entry(
    existing: KnowledgeBaseEntry, question: str | None, answer: str | None, user: User | None = None
) -> KnowledgeBaseEntry:
    """Change an entry (audited when anything changed); the caller commits."""
    cleaned_question, cleaned_answer = validate_entry(question, answer)
    _refuse_phrasings_of_others(existing.office_id, cleaned_question, existing)
    # What the bot said before stays in the log, so a wrong answer can be traced and put back.
    before = {
        field: old
        for field, old, new in (
            ("question", existing.question, cleaned_question),
            ("answer", existing.answer, cleaned_answer),
        )
        if old != new
    }
    if before:
        changed = " and ".join(
            {"question": "its questions", "answer": "its answer"}[field] for field in before
        )
        office = existing.office
        audit.record(
            user, "kb.entry_updated",
            f"Knowledge base of {office.name}: changed {changed} of {_entry_name(existing.question)}",
            [office], {"entry_id": existing.id, "before": before},
        )  # fmt: skip
    existing.question, existing.answer = cleaned_question, cleaned_answer
    existing.updated_by_id = user.id if user else None
    db.session.flush()
    return existing


def delete_entry(existing: KnowledgeBaseEntry, user: User | None = None) -> None:
    """Delete an entry (audited, with what it said); the caller commits."""
    office = existing.office
    audit.record(
        user, "kb.entry_deleted",
        f"Knowledge base of {office.name}: deleted {_entry_name(existing.question)}",
        [office],
        {"entry_id": existing.id, "question": existing.question, "answer": existing.answer},
    )  # fmt: skip
    db.session.delete(existing)
    db.session.flush()


# ---- "I don't know" ----


def set_idk(
    office: Office, action: str | None, message: str | None = None, user: User | None = None
) -> Office:
    """Escalate to agents, or send a custom message, when the bot does not know (audited when
    anything changed; `user` None for the command line). The caller commits."""
    if action not in {a.value for a in IdkAction}:
        raise KnowledgeBaseError(
            {"idk_action": "Choose what happens when the bot does not know: escalate or a message."}
        )
    text = (message or "").replace("\r\n", "\n").translate(OTHER_LINE_BREAKS).strip()
    if action == IdkAction.MESSAGE:
        if shows_nothing(text):
            raise KnowledgeBaseError(
                {"idk_message": "Enter the message the bot sends when it does not know."}
            )
        if problem := control_character_problem(text):
            raise KnowledgeBaseError({"idk_message": problem})
        if len(text) > MAX_ANSWER_LENGTH:
            raise KnowledgeBaseError(
                {
                    "idk_message": f"The message can be at most {MAX_ANSWER_LENGTH:,} characters; "
                    f"this one has {len(text):,}."
                }
            )
    before = (office.idk_action, office.idk_message)
    office.idk_action = action
    if action == IdkAction.MESSAGE or text:
        office.idk_message = text  # kept when escalating, so switching back does not lose it
    if (office.idk_action, office.idk_message) != before:
        if action == IdkAction.MESSAGE:
            quoted = text if len(text) <= 200 else text[:199] + "…"
            now = f"the bot sends “{quoted}”"
        else:
            now = "the conversation goes to an agent"
        audit.record(
            user, "kb.idk_updated",
            f"Knowledge base of {office.name}: when the bot does not know, {now}",
            [office],
            {"before": {"action": before[0], "message": before[1]},
             "after": {"action": office.idk_action, "message": office.idk_message}},
        )  # fmt: skip
    db.session.flush()
    return office


def validate_trial(question: str | None) -> str:
    """A question typed into the "try a question" box."""
    text = (question or "").strip()
    if not text:
        raise KnowledgeBaseError({"trial": "Type a question to try."})
    if len(text) > MAX_TRIAL_LENGTH:
        raise KnowledgeBaseError(
            {
                "trial": f"A question can be at most {MAX_TRIAL_LENGTH:,} characters (a contact "
                f"cannot send more); this one has {len(text):,}."
            }
        )
    return text
