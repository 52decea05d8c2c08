"""Offices, users and reusable numbers: creating them with the checks every entry point shares."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Backing, Office, ReusableNumber, Role, User
from webapp.services import audit, sessions
from webapp.services.phones import PhoneError, parse_e164
from webapp.services.segments import BLANK_LETTERS, shows_nothing

# No spaces, control characters or lone surrogates (which no database column keeps) in its parts.
_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f\ud800-\udfff]+"
EMAIL_PATTERN = re.compile(rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}\Z")
MAX_EMAIL_LENGTH = 254  # users.email
MAX_NAME_LENGTH = 120  # users.name, reusable_numbers.label
MAX_DESCRIPTION_LENGTH = 2000  # a number's description: the admin console's limit
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200


class DirectoryError(ValueError):
    """Bad input for an office, user or number; nothing was changed."""


def check_new_password(password: str) -> str | None:
    """Why a new password is refused (a sentence for its form field), or None when it will do."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return SHORT_PASSWORD
    return _check_password_bounds(password)


SHORT_PASSWORD = f"A password needs at least {MIN_PASSWORD_LENGTH} characters."


def _check_password_bounds(password: str) -> str | None:
    if not (password or "").strip():
        return "A password cannot be empty."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"A password can be at most {MAX_PASSWORD_LENGTH} characters."
    return None


def check_operator_password(password: str) -> tuple[str | None, str | None]:
    """(refusal, warning) for a password set on the command line. Its operator can already reach
    the database, so a short password is their call: warned about, not refused (the web forms,
    open to anyone signed in, keep the minimum)."""
    refusal = _check_password_bounds(password)
    if refusal:
        return refusal, None
    short = len(password) < MIN_PASSWORD_LENGTH
    return None, (f"This password is shorter than {MIN_PASSWORD_LENGTH} characters." if short else None)


_SPACES = re.compile(r"\s+")


def office_name(name: str | None) -> str:
    """An office name as kept: trimmed, runs of spaces as one (a page shows them as one anyway, so
    "Financial  Aid" would look like another office's name)."""
    return _SPACES.sub(" ", (name or "").strip())


def name_key(name: str) -> str:
    """What two names must differ in to be told apart on a page: not letter case (of any script:
    SQLite's lower() knows ASCII alone), width forms, invisible characters (a zero-width space, a
    soft hyphen) or runs of spaces."""
    shown = "".join(
        c
        for c in unicodedata.normalize("NFKC", name)
        if unicodedata.category(c) != "Cf" and c not in BLANK_LETTERS
    )
    return _SPACES.sub(" ", shown).strip().casefold()


def named(rows, name: str, excluding: int | None = None) -> list[tuple[int, str]]:
    """The (id, name) rows named `name`, but `excluding`: the ones written exactly so, else the
    ones that read as it (`name_key`; several where names were kept before they had to differ)."""
    rows = [(id_, row_name) for id_, row_name in rows if id_ != excluding]
    written = _SPACES.sub(" ", name.strip())
    exact = [row for row in rows if row[1] == written]
    if exact:
        return exact
    key = name_key(name)
    return [row for row in rows if name_key(row[1]) == key]


def one_named(rows, name: str, what: str) -> int | None:
    """The id of the one row named `name` (`named`), None if there is none. Names that read alike
    are refused rather than guessed between."""
    found = named(rows, name)
    if len(found) > 1:
        alike = ", ".join(repr(row_name) for _id, row_name in found)
        raise DirectoryError(f"Several {what} have names that read as {name!r} ({alike}); give the name "
                             "as it is written, or rename one of them.")  # fmt: skip
    return found[0][0] if found else None


def _office_rows() -> list:
    return db.session.execute(select(Office.id, Office.name).order_by(Office.id)).all()


def office_name_taken(name: str, excluding: int | None = None) -> bool:
    """Whether another office's name reads as `name`: offices are few, so they are compared here."""
    return bool(named(_office_rows(), name, excluding))


def office_by_name(name: str) -> Office:
    found = one_named(_office_rows(), name, "offices")
    if found is None:
        raise DirectoryError(f"No office named {name!r}.")
    return db.session.get(Office, found)


def user_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise DirectoryError(f"No user with email {email!r}.")
    return user


# Characters that reorder the text around them: in a name, a way to make it read as another.
_DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def name_problem(name: str) -> str | None:
    """Why a name (of a person, an office or a campaign record) cannot be shown as it was typed,
    or None: a control character or line break, a direction override, or nothing visible at all
    (only spaces, zero-width characters, fillers or marks). Any script, mark or emoji is visible, emoji newer
    than Python's Unicode tables included."""
    kinds = {char: unicodedata.category(char) for char in name}
    if any(kind in ("Cc", "Zl", "Zp") for kind in kinds.values()):
        return "cannot contain control characters, such as a line break or a tab"
    if not _DIRECTION_CONTROLS.isdisjoint(name):
        return "cannot contain characters that reverse the direction of text"
    if shows_nothing(name):
        return "needs at least one visible character"
    return None


def create_office(name: str, help_text: str = "") -> Office:
    name = (name or "").strip()
    if not name:
        raise DirectoryError("An office needs a name.")
    if problem := name_problem(name):
        raise DirectoryError(f"An office name {problem}.")
    name = office_name(name)
    if len(name) > 120:
        raise DirectoryError("An office name can be at most 120 characters.")
    if office_name_taken(name):
        raise DirectoryError(f"An office named {name!r} already exists.")
    office = Office(name=name, help_text=help_text)
    db.session.add(office)
    db.session.flush()
    return office


def create_user(
    email: str,
    role: str,
    password: str | None,
    name: str | None = None,
    office_names: list[str] | tuple[str, ...] = (),
) -> User:
    """A new user; `password` None for one who signs in only through single sign-on."""
    email = (email or "").strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > MAX_EMAIL_LENGTH:
        raise DirectoryError(f"{email!r} is not an email address.")
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise DirectoryError(f"A name can be at most {MAX_NAME_LENGTH} characters.")
    if name and (problem := name_problem(name)):
        raise DirectoryError(f"A name {problem}.")
    if role not in {r.value for r in Role}:
        raise DirectoryError(f"Role must be one of admin, standard, limited (not {role!r}).")
    refusal, _warning = check_operator_password(password) if password is not None else (None, None)
    if refusal:
        raise DirectoryError(refusal)
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise DirectoryError(f"A user with email {email!r} already exists.")
    # An office named twice (in any case) is joined, and named in the audit entry, once.
    offices = list(dict.fromkeys(office_by_name(office) for office in office_names))
    user = User(email=email, role=role, name=name or email.split("@")[0])
    if password is None:
        user.password_hash = User.NO_PASSWORD
    else:
        user.set_password(password)
    user.offices = offices
    db.session.add(user)
    db.session.flush()
    return user


def join_offices(user: User, office_names: list[str] | tuple[str, ...]) -> list[Office]:
    """Add `user` to these offices; returns the ones they were not in yet."""
    joined = []
    for name in office_names:
        office = office_by_name(name)
        if office not in user.offices and office not in joined:
            joined.append(office)
    user.offices.extend(joined)
    db.session.flush()
    return joined


def set_password(email: str, password: str) -> User:
    """A new password from the command line (break glass when single sign-on fails): every session
    of the user ends, as when an admin sets one. Audited; the caller commits."""
    user = user_by_email(email)
    refusal, _warning = check_operator_password(password)
    if refusal:
        raise DirectoryError(refusal)
    user.set_password(password)
    sessions.end_all(user.id)
    summary = f"Set a new password for {user.name} ({user.email}) on the command line"
    audit.record(None, "user.password_set", summary, user.offices, {"user_id": user.id, "via": "cli"})
    return user


def add_number(
    phone: str,
    office_name: str,
    provider: str,
    backing: str,
    enabled_providers: list[str],
    agent_emails: list[str] | tuple[str, ...] = (),
    inbox_offices: list[str] | tuple[str, ...] = (),
    label: str = "",
    description: str = "",
) -> ReusableNumber:
    try:
        e164 = parse_e164(phone)
    except PhoneError as exc:
        raise DirectoryError(str(exc)) from None
    if provider not in enabled_providers:
        enabled = ", ".join(enabled_providers) or "none"
        raise DirectoryError(f"Provider {provider!r} is not enabled (enabled: {enabled}).")
    if backing not in {b.value for b in Backing}:
        raise DirectoryError(f"Backing must be agent or bot (not {backing!r}).")
    label, description = label.strip(), description.strip()
    if len(label) > MAX_NAME_LENGTH:
        raise DirectoryError(f"A label can be at most {MAX_NAME_LENGTH} characters.")
    if label and (problem := name_problem(label)):
        raise DirectoryError(f"A label {problem}.")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise DirectoryError(f"A description can be at most {MAX_DESCRIPTION_LENGTH:,} characters.")
    if db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == e164)):
        raise DirectoryError(f"{e164} is already a reusable number.")
    office = office_by_name(office_name)
    # A person or office named twice (in any case) is listed once.
    agents = list(dict.fromkeys(user_by_email(email) for email in agent_emails))
    # As in the admin console: a deactivated user could not answer the number's replies.
    if deactivated := [agent for agent in agents if not agent.active]:
        names = ", ".join(f"{agent.name} ({agent.email})" for agent in deactivated)
        raise DirectoryError(f"{names} {'is' if len(deactivated) == 1 else 'are'} deactivated: only "
                             "active users can be assigned agents; reactivate them or choose others.")
    number = ReusableNumber(
        phone=e164,
        office=office,
        provider=provider,
        backing=backing,
        label=label,
        description=description,
    )
    number.agents = agents
    number.inboxes = list(dict.fromkeys(office_by_name(name) for name in inbox_offices))
    db.session.add(number)
    db.session.flush()
    return number
