"""Contact display names through the chain of contact-resolver plugins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from flask import current_app
from sqlalchemy import String, and_, bindparam, exists, func, literal, or_, select, union_all

from webapp.extensions import db
from webapp.models import (
    NAMING_STATUSES,
    Campaign,
    CampaignContact,
    Conversation,
    ReusableNumber,
    User,
    office_memberships,
)
from webapp.plugin_api import ContactResolver
from webapp.services.dbutil import ByValues, in_list, written_limit
from webapp.services.phones import PhoneError, format_phone, parse_any_phone, parse_us_phone

# How many answers (a name, or none) of a directory-following resolver each process keeps.
KEPT_NAMES = 5000


def display_names(phones: list[str], directory_version: int | None = None) -> dict[str, str]:
    """A display name for each phone: a resolver's name, else the formatted phone alone.

    Given the directory's counter as this request read it (`directory_version`), the answers of
    resolvers that follow the directory are kept under it, in each process: while it holds, a
    refresh names its rows without asking again. Those resolvers read only campaign contact
    lists, which change only with their campaign's row (import, launch, archive, delete), whose
    triggers raise the counter in the same transaction; so a name kept under a counter is never
    older than it.
    """
    wanted = list(dict.fromkeys(phones))
    names: dict[str, str] = {}
    for position, resolver in enumerate(current_app.extensions["parley"].contact_resolvers):
        missing = [phone for phone in wanted if phone not in names]
        if not missing:
            break
        if directory_version is not None and resolver.follows_directory:
            answers = _kept_answers(position, resolver, directory_version, missing)
        else:
            answers = {phone: contact.name for phone, contact in resolver.resolve_many(missing).items()}
        names.update((phone, name) for phone, name in answers.items() if name is not None)
    return {phone: names.get(phone) or format_phone(phone) for phone in wanted}


def _kept_answers(
    position: int, resolver: ContactResolver, directory_version: int, phones: list[str]
) -> dict[str, str | None]:
    """The resolver's answer for each phone (None: it names none). Answers are kept for one
    counter, the one last asked under: another counter (a newer one, or a restored database's)
    starts afresh, and so does a full store."""
    stores = current_app.extensions.setdefault("parley.kept_names", {})
    counter, kept = stores.get(position, (None, {}))
    if counter != directory_version or len(kept) + len(phones) > KEPT_NAMES:
        kept = {}
        stores[position] = (directory_version, kept)
    unknown = [phone for phone in phones if phone not in kept]
    if unknown:
        found = resolver.resolve_many(unknown)
        kept.update((phone, found[phone].name if phone in found else None) for phone in unknown)
    return {phone: kept[phone] for phone in phones}


def display_name(phone: str) -> str:
    return display_names([phone])[phone]


@dataclass(frozen=True)
class ContactConversation:
    id: int
    number_label: str
    last_activity_at: datetime
    needs_attention: bool


@dataclass(frozen=True)
class LookupResult:
    phone: str  # E.164
    display_name: str
    opted_out: bool
    conversations: list[ContactConversation]  # visible to the user, newest first
    listed_as: str = ""  # the campaign-list name a name search matched, when it differs

    @property
    def new_text_refusal(self) -> str:
        """Why compose would refuse to start a text to this phone ("" when it would not): compose's
        own check, so that "Text this contact" is offered only where it leads somewhere."""
        try:
            parse_us_phone(self.phone)
        except PhoneError as exc:
            reason = str(exc).split(";")[0].rstrip(".")  # what follows is advice on typing one
            return reason[:1].lower() + reason[1:]
        return ""


@dataclass(frozen=True)
class ContactSearch:
    query: str
    kind: str  # "", "phone" or "name"
    results: list[LookupResult]
    error: str | None = None
    more: bool = False  # a name search found more contacts than it shows


NAME_RESULTS = 8
MIN_NAME_LENGTH = 2


def lookup(user: User, phone: str) -> LookupResult:
    """A contact by phone: name, opt-out status and the conversations the user may see."""
    return describe(user, [phone])[0]


# Tables, not mapped classes, in statements built once: they run as Core statements (see
# docs/performance.md).
_CONVERSATIONS = Conversation.__table__
_NUMBERS = ReusableNumber.__table__


@lru_cache(maxsize=2)
def _conversations_of_phones(admin: bool) -> ByValues:
    """Built once (per role kind): every lookup runs it. Visible conversations only."""
    from webapp.services.access import visible_conversation_clause

    return ByValues(
        "phones",
        lambda phone_in: (
            select(
                _CONVERSATIONS.c.contact_phone,
                _CONVERSATIONS.c.id,
                func.coalesce(_NUMBERS.c.label, _NUMBERS.c.phone),
                _CONVERSATIONS.c.last_activity_at,
                _CONVERSATIONS.c.needs_attention,
            )
            .join(_NUMBERS, _NUMBERS.c.id == _CONVERSATIONS.c.number_id)
            .where(
                phone_in(_CONVERSATIONS.c.contact_phone),
                visible_conversation_clause(bindparam("user_id"), admin),
            )
            .order_by(_CONVERSATIONS.c.last_activity_at.desc(), _CONVERSATIONS.c.id.desc())
        ),
    )


def describe(
    user: User, phones: list[str], listed_as: dict[str, str] | None = None
) -> list[LookupResult]:
    """Lookup results for several phones in a fixed number of queries (no query per contact)."""
    from webapp.services.optouts import opted_out_phones

    if not phones:
        return []
    rows = _conversations_of_phones(user.is_admin).run(phones, {"user_id": user.id})
    by_phone: dict[str, list[ContactConversation]] = {phone: [] for phone in phones}
    for phone, *fields in rows:
        by_phone[phone].append(ContactConversation(*fields))
    names = display_names(phones)
    opted_out = opted_out_phones(phones)
    listed_as = listed_as or {}
    return [
        LookupResult(
            phone=phone,
            display_name=names[phone],
            opted_out=phone in opted_out,
            conversations=by_phone[phone],
            listed_as=listed_as.get(phone, "") if listed_as.get(phone) != names[phone] else "",
        )
        for phone in phones
    ]


def search(
    user: User, text: str, limit: int = NAME_RESULTS, with_conversations: bool = False
) -> ContactSearch:
    """Look a contact up by phone (any format) or by name (campaign contact lists of the user's
    offices). Text with a letter in it is a name; anything else a phone. `with_conversations`:
    only contacts with a conversation the user may see (see _phones_by_name)."""
    query = " ".join((text or "").split())[:80]
    if not query:
        return ContactSearch(query, "", [])
    if not any(char.isalpha() for char in query):
        try:
            phone = parse_any_phone(query)
        except PhoneError as exc:
            return ContactSearch(query, "phone", [], error=str(exc))
        return ContactSearch(query, "phone", [lookup(user, phone)])
    if len(query) < MIN_NAME_LENGTH:
        return ContactSearch(query, "name", [], error="Type at least 2 letters of a name.")
    found = _phones_by_name(user, query, limit + 1, with_conversations)
    phones = list(found)[:limit]
    return ContactSearch(query, "name", describe(user, phones, found), more=len(found) > limit)


def _phones_by_name(
    user: User, query: str, limit: int, with_conversations: bool = False
) -> dict[str, str]:
    """Phones (→ the listed name) whose first or last name starts with the query's first word, and
    whose names have a word starting with each of its other words ("Mary Ann Smith").

    The first word probes the lower(first_name) / lower(last_name) indexes; further words narrow
    those rows. Only launched or archived campaigns of the user's own offices are searched: another
    office's contact list is not the user's to browse.

    `with_conversations` (the search page): only phones with a conversation the user may see,
    newest conversation first (see _named_with_conversations), by the lists of every office: such
    a conversation shows its contact's name from whichever office's campaign was launched last,
    and is found by that name.
    """
    words = query.lower().split()[:3]
    # EXISTS, not a join: the planner then starts from the name indexes (a join lets SQLite start
    # from the office's campaigns and read every contact of them).
    naming = (Campaign.id == CampaignContact.campaign_id, Campaign.status.in_(NAMING_STATUSES))
    if with_conversations:
        listed = exists().where(*naming)
        # Most names are found among the first contacts of that name; a common one that few of
        # the user's conversations have needs every contact of that name read.
        for sample in (NAME_SAMPLE, None):
            named = _named_with_conversations(user, words, listed, limit, sample)
            found = _first_phones(named, limit)
            if len(found) == limit:
                break
        return found
    my_offices = select(office_memberships.c.office_id).where(office_memberships.c.user_id == user.id)
    listed_in_my_offices = exists().where(*naming, Campaign.office_id.in_(my_offices))
    first_name, last_name = CampaignContact.first_name, CampaignContact.last_name
    conditions = [
        or_(_starts_with(first_name, words[0]), _starts_with(last_name, words[0])),
        *(_names_have_a_word_starting(first_name, last_name, word) for word in words[1:]),
    ]
    statement = (
        select(CampaignContact.phone, CampaignContact.first_name, CampaignContact.last_name)
        .where(*conditions, listed_in_my_offices)
        .order_by(
            func.lower(CampaignContact.last_name),
            func.lower(CampaignContact.first_name),
            CampaignContact.phone,
        )
        .limit(written_limit(limit * 4))  # one phone may sit in several lists
    )
    return _first_phones(statement, limit)


PHONE_FRAGMENT = re.compile(r"[\d\s().+-]+")  # digits with the marks a phone is written with
MIN_PHONE_DIGITS = 4
PHONE_SAMPLE = 500  # matching phones read first by a partial-phone search


def phone_fragment_digits(query: str) -> str | None:
    """The digits of a query that is only part of a phone number ("555-0143", "0143"), or None."""
    if not PHONE_FRAGMENT.fullmatch(query):
        return None
    digits = re.sub(r"\D", "", query)
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def search_phone_digits(user: User, digits: str, limit: int = NAME_RESULTS) -> ContactSearch:
    """Contacts with a conversation the user may see whose phone contains the digits, newest
    conversation first.

    The matching phones come first, from the phone index alone (no index serves a match inside a
    value, but a scan of that index is quick and stops at PHONE_SAMPLE), and only they are looked
    for among the visible conversations. Only when more phones match than that and too few of
    them are the user's are the visible conversations read whole."""
    pattern = {"pattern": f"%{digits}%"}
    matching = list(db.session.scalars(_phones_like(PHONE_SAMPLE + 1), pattern))
    params = {"user_id": user.id, "phones": matching[:PHONE_SAMPLE]}
    found = list(db.session.scalars(_newest_visible(user.is_admin, limit + 1, True), params))
    if len(matching) > PHONE_SAMPLE and len(found) <= limit:
        params = {"user_id": user.id, **pattern}
        found = list(db.session.scalars(_newest_visible(user.is_admin, limit + 1, False), params))
    return ContactSearch(digits, "phone", describe(user, found[:limit]), more=len(found) > limit)


@lru_cache(maxsize=2)
def _phones_like(limit: int):
    return (
        select(_CONVERSATIONS.c.contact_phone)
        .where(_CONVERSATIONS.c.contact_phone.like(bindparam("pattern")))
        .distinct()
        .limit(written_limit(limit))
    )


@lru_cache(maxsize=8)
def _newest_visible(admin: bool, limit: int, listed: bool):
    """The phones (listed ones, or all matching the pattern) of the conversations the user may
    see, newest conversation first."""
    from webapp.services.access import visible_conversation_clause

    phone = _CONVERSATIONS.c.contact_phone
    return (
        select(phone)
        .where(
            in_list(phone, "phones") if listed else phone.like(bindparam("pattern")),
            visible_conversation_clause(bindparam("user_id"), admin),
        )
        .group_by(phone)
        .order_by(func.max(_CONVERSATIONS.c.last_activity_at).desc(), phone)
        .limit(written_limit(limit))
    )


def _first_phones(statement, limit: int) -> dict[str, str]:
    """The first `limit` phones the (phone, first name, last name) rows give, with their names."""
    found: dict[str, str] = {}
    for phone, first_name, last_name in db.session.execute(statement):
        if phone not in found:
            found[phone] = " ".join(part for part in (first_name, last_name) if part)
        if len(found) == limit:
            break
    return found


NAME_SAMPLE = 500  # contacts of each name index read first by a search (_named_with_conversations)


def _named_with_conversations(
    user: User, words: list[str], listed, limit: int, sample: int | None = None
):
    """Listed contacts of that name with a conversation the user may see, newest conversation
    first: among the first `sample` contacts of each name index (in the index's order), or all.
    A name common enough that the sample fills the page shows that page (and says more contacts
    match); the newest among all would cost a read of every contact of that name every time.

    The contacts come first, one branch per name index (a materialized CTE; on PostgreSQL each
    branch is an index-only scan, as the indexes include the names, the campaign and the phone),
    and only they are looked for among the conversations. Probing a contact's conversations as
    the name index gives them instead costs a probe per contact of a common first name, and
    reading every contact of the user's campaigns first costs more than that.
    """
    from webapp.services.access import visible_conversation_clause

    contacts = CampaignContact.__table__.c
    narrowing = [
        _names_have_a_word_starting(contacts.first_name, contacts.last_name, word) for word in words[1:]
    ]
    branches = []
    for column in (contacts.first_name, contacts.last_name):
        branch = select(contacts.phone, contacts.first_name, contacts.last_name).where(
            _starts_with(column, words[0]), *narrowing, listed
        )
        if sample is not None:  # a LIMIT inside a UNION needs a subquery of its own on SQLite
            branch = select(branch.limit(written_limit(sample)).subquery())
        branches.append(branch)
    # UNION ALL: the grouping below makes one row a phone already, without a sort of every
    # contact of a common name first (at 100k, 50,000 of them spilled to disk).
    named = union_all(*branches).cte("named").prefix_with("MATERIALIZED")
    # One row a phone, however many lists and conversations it has (the names: any of its lists').
    return (
        select(named.c.phone, func.min(named.c.first_name), func.min(named.c.last_name))
        .join(_CONVERSATIONS, _CONVERSATIONS.c.contact_phone == named.c.phone)
        .where(visible_conversation_clause(user.id, user.is_admin))
        .group_by(named.c.phone)
        .order_by(func.max(_CONVERSATIONS.c.last_activity_at).desc(), named.c.phone)
        .limit(written_limit(limit))
    )


def _starts_with(column, prefix: str):
    """lower(column) starts with `prefix`, in a form each database answers from its index.

    PostgreSQL: LIKE 'pre%' on a text_pattern_ops index, the pattern written into the statement:
    a prepared statement's generic plan, made for any pattern, cannot use the index and reads every
    contact. SQLite: LIKE cannot use an expression index, a range can: 'pre' <= lower(col) < 'prf'.
    SQLite's lower() knows ASCII letters alone, so a name starting with an accented capital
    ("Émile", "Åsa") keeps it there: the range of the prefix so written is read too.
    """
    expression = func.lower(column)
    if db.session.get_bind().dialect.name == "postgresql":
        pattern = literal(f"{_like_escaped(prefix)}%", String(), literal_execute=True)
        return expression.like(pattern, escape="\\")

    def starting(written: str):
        return and_(expression >= written, expression < written[:-1] + chr(ord(written[-1]) + 1))

    return or_(*(starting(written) for written in _as_lowered(prefix)))


def _as_lowered(word: str) -> list[str]:
    """`word` (lower case) as the database's lower() may have left it in a name: SQLite lowers
    ASCII letters alone, so a name's accented capital ("Émile") stays one there."""
    capital = word[0].upper() + word[1:]
    if word[0].isascii() or capital == word or db.session.get_bind().dialect.name == "postgresql":
        return [word]
    return [word, capital]


def _names_have_a_word_starting(first_name, last_name, prefix: str):
    """A first or last name has a word starting with `prefix` ("Ann" of "Mary Ann", "Cruz" of
    "De La Cruz", "Okonkwo" of "Adeyemi-Okonkwo"): for a query's later words, which narrow the
    contacts its first word found through the name indexes."""
    inside = [
        func.lower(column).like(f"%{mark}{_like_escaped(written)}%", escape="\\")
        for column in (first_name, last_name)
        for mark in (" ", "-")
        for written in _as_lowered(prefix)
    ]
    return or_(_starts_with(first_name, prefix), _starts_with(last_name, prefix), *inside)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- The contact panel beside an open conversation ----


@dataclass(frozen=True)
class CampaignRef:
    name: str
    status: str
    launched_at: datetime | None


@dataclass(frozen=True)
class ContactPanel:
    contact: LookupResult
    campaigns: list[CampaignRef]  # launched or archived, of the user's offices, newest first
    conversation_id: int  # the open one; `contact.conversations` holds the others too


PANEL_CAMPAIGNS = 10
_PANEL_CAMPAIGNS = (
    select(Campaign.name, Campaign.status, Campaign.launched_at)
    .join(CampaignContact, CampaignContact.campaign_id == Campaign.id)
    .where(
        CampaignContact.phone == bindparam("phone"),
        Campaign.status.in_(NAMING_STATUSES),
        Campaign.office_id.in_(
            select(office_memberships.c.office_id).where(office_memberships.c.user_id == bindparam("user_id"))
        ),
    )
    .order_by(Campaign.launched_at.desc(), Campaign.id.desc())
    .limit(PANEL_CAMPAIGNS)
)


def panel(user: User, conversation: Conversation) -> ContactPanel:
    """Who the contact of a conversation is: name, phone, opt-out, campaigns, other conversations.
    A handful of statements, once per opened conversation (never per row or per poll)."""
    contact = describe(user, [conversation.contact_phone])[0]
    rows = db.session.execute(_PANEL_CAMPAIGNS, {"phone": conversation.contact_phone, "user_id": user.id})
    return ContactPanel(contact, [CampaignRef(*row) for row in rows], conversation.id)
