"""Saved replies: an office's ready answers, with merge fields filled in for one contact.

Merge fields: {first_name} and {last_name} from the contact's campaign record (the newest launched
campaign that names the phone, as contact names are resolved), {agent_first_name} from the agent.
A field without a value stays in the text as it is, and a message that still holds one is not
sent (`unfilled`): the agent fills it in first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Office, SavedReply, User
from webapp.services import audit
from webapp.services.plugin_records import CampaignContactDirectory
from webapp.services.segments import MAX_MESSAGE_LENGTH, shows_nothing

MERGE_FIELDS = ("first_name", "last_name", "agent_first_name")
CONTACT_FIELDS = ("first_name", "last_name")  # filled from the contact's campaign record
MAX_TITLE_LENGTH = 100
# Anything that looks like a merge field: a name in braces.
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN = re.compile(r"\{(" + "|".join(MERGE_FIELDS) + r")\}")
# A merge field's name (in any case, its words joined by _, - or spaces or not at all) with a marker
# beside it: written exactly {name} it is one; in other brackets or markers, doubled braces, or
# missing a brace, it would be sent as it is. Only braces may have spaces inside ("{ first_name }"):
# plain text such as "100% first name basis" is no merge field.
_SPELLED = "|".join(name.replace("_", "[ _-]?") for name in MERGE_FIELDS)
_MARKED = re.compile(
    r"(?P<open>\$?\{+\s*|\[+|<+|%|\$)?"
    r"\b(?P<name>(?i:" + _SPELLED + r"))\b"
    r"(?P<close>\s*\}+|\]+|>+|%)?"
)
_BY_LETTERS = {name.replace("_", ""): name for name in MERGE_FIELDS}
# A field in doubled braces is not one: merge leaves it whole, so the message is held as unfilled.
_MERGED = re.compile(r"(?<!\{)\{(" + "|".join(MERGE_FIELDS) + r")\}(?!\})")


def _miswritten(body: str) -> tuple[str, str] | None:
    """(what was written, the merge field meant) for the first field written so that it would be
    sent as it is, or None."""
    for found in _MARKED.finditer(body):
        field = _BY_LETTERS[re.sub("[ _-]", "", found["name"].lower())]
        opener, closer = found["open"] or "", found["close"] or ""
        if not (opener or closer) or found[0] == f"{{{field}}}":
            continue
        if not {"{", "}"} & set(opener + closer) and opener != "$":
            # [name], <name> and %name% count only as a pair, and not within an address a reply
            # may explain: "[firstname].[lastname]@students.example.edu", "<firstname.lastname@…>".
            beside = body[found.start() - 1 : found.start()] + body[found.end() : found.end() + 1]
            if not (opener and closer) or "." in beside or "@" in beside:
                continue
        return found[0], f"{{{field}}}"
    return None


class SavedReplyError(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())))
        self.errors = errors


def described_fields() -> str:
    names = [f"{{{name}}}" for name in MERGE_FIELDS]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _checked(
    title: str, body: str, office: Office, reply_id: int | None = None, check_title: bool = True
) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    errors = {}
    if not title:
        errors["title"] = "Give the saved reply a title agents will recognise it by."
    elif len(title) > MAX_TITLE_LENGTH:
        errors["title"] = f"A title can be at most {MAX_TITLE_LENGTH} characters; this has {len(title):,}."
    elif check_title and _title_taken(title, office, reply_id):
        # Agents pick a reply by its title: two alike could not be told apart in the list.
        errors["title"] = f"{office.name} already has a saved reply titled “{title}”: choose another title."
    if shows_nothing(body):
        errors["body"] = "Write the text of the saved reply."
    elif len(body) > MAX_MESSAGE_LENGTH:
        errors["body"] = (
            f"A saved reply can be at most {MAX_MESSAGE_LENGTH:,} characters (one text); "
            f"this has {len(body):,}."
        )
    else:
        unknown = [name for name in dict.fromkeys(_FIELD.findall(body)) if name not in MERGE_FIELDS]
        miswritten = _miswritten(body)
        if miswritten:  # first: "{First_Name}" is better answered by how to write it
            written, field = miswritten
            errors["body"] = (
                f"Write {field}, not “{written}”: only {field} is filled in, and “{written}” would "
                "be sent to the contact as it is."
            )
        elif unknown:
            errors["body"] = (
                f"{{{unknown[0]}}} is not a merge field Parley knows; the merge fields are "
                f"{described_fields()}. Remove it or use one of those."
            )
    if errors:
        raise SavedReplyError(errors)
    return title, body


def _title_taken(title: str, office: Office, reply_id: int | None) -> bool:
    """Compared in Python (casefold): SQLite's lower() folds ASCII letters only."""
    others = select(SavedReply.title).where(SavedReply.office_id == office.id)
    if reply_id is not None:
        others = others.where(SavedReply.id != reply_id)
    return title.casefold() in {other.casefold() for other in db.session.scalars(others)}


def of_offices(office_ids: set[int] | list[int]) -> list[SavedReply]:
    """The offices' saved replies, by title."""
    if not office_ids:
        return []
    return list(
        db.session.scalars(
            select(SavedReply)
            .where(SavedReply.office_id.in_(list(office_ids)))
            .order_by(SavedReply.title, SavedReply.id)
        )
    )


def create(actor: User, office: Office, title: str, body: str) -> SavedReply:
    title, body = _checked(title, body, office)
    reply = SavedReply(office_id=office.id, title=title, body=body)
    db.session.add(reply)
    db.session.flush()
    audit.record(actor, "saved_reply.created", f"Saved reply {title} created for {office.name}",
                 [office], {"saved_reply_id": reply.id})  # fmt: skip
    return reply


def update(actor: User, reply: SavedReply, office: Office, title: str, body: str) -> None:
    # A title kept as it was is no new clash (replies saved before titles were checked included).
    kept = title.strip().casefold() == reply.title.casefold()
    title, body = _checked(title, body, office, reply.id, check_title=not kept)
    reply.title, reply.body = title, body
    audit.record(actor, "saved_reply.updated", f"Saved reply {title} of {office.name} changed",
                 [office], {"saved_reply_id": reply.id})  # fmt: skip


def delete(actor: User, reply: SavedReply, office: Office) -> None:
    audit.record(actor, "saved_reply.deleted", f"Saved reply {reply.title} of {office.name} deleted",
                 [office], {"saved_reply_id": reply.id})  # fmt: skip
    db.session.delete(reply)


def contact_values(phone: str | None) -> dict[str, str]:
    """{first_name} and {last_name} of a contact's campaign record (empty when there is none)."""
    if not phone:
        return {"first_name": "", "last_name": ""}
    for listing in CampaignContactDirectory().campaign_listings([phone]):
        if listing.first_name or listing.last_name:
            return {"first_name": listing.first_name, "last_name": listing.last_name}
    return {"first_name": "", "last_name": ""}


def agent_first_name(agent: User) -> str:
    return (agent.name or "").split(" ")[0] if agent.name else ""


@dataclass(frozen=True)
class Merged:
    id: int
    title: str
    text: str  # fields with a value filled in; the others left as {field}
    unfilled: tuple[str, ...]  # the fields left, e.g. ("first_name",)


def merge(reply: SavedReply, values: dict[str, str]) -> Merged:
    text = _MERGED.sub(lambda match: values.get(match.group(1)) or match.group(0), reply.body)
    return Merged(reply.id, reply.title, text, unfilled(text))


def unfilled(text: str) -> tuple[str, ...]:
    """The merge fields a message still holds unfilled, e.g. ("first_name",)."""
    return tuple(dict.fromkeys(_KNOWN.findall(text)))


def unfilled_message(text: str) -> str | None:
    """Why a message holding an unfilled merge field is not sent; None when it holds none."""
    fields = unfilled(text)
    if not fields:
        return None
    listed = ", ".join(f"{{{name}}}" for name in fields)
    return (
        f"Fill in {listed} before sending: the saved reply had no value for "
        f"{'it' if len(fields) == 1 else 'them'}. Nothing was sent."
    )


def compose_unfilled_message(text: str, phone: str | None) -> str | None:
    """As unfilled_message, for a new text: the contact's name comes with the To phone (the compose
    page fills it in as the phone is entered), so what is left says whether the phone names a known
    contact. workspace.js says the same before the form is sent."""
    fields = unfilled(text)
    if not fields or any(name not in CONTACT_FIELDS for name in fields):
        return unfilled_message(text)
    listed = ", ".join(f"{{{name}}}" for name in fields)
    values = contact_values(phone)
    if values["first_name"] or values["last_name"]:
        way = f"replace {'it' if len(fields) == 1 else 'them'} with the contact's name"
    else:
        way = "enter a phone with a known contact"
    return f"The message still has {listed}: {way}, or edit the text. Nothing was sent."
