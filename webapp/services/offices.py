"""An office's compliance settings: its time zone, quiet hours and message retention.

Every change is audited; bad input raises SettingsError (per field) and changes nothing. A change
of quiet hours re-times the texts they hold: they go at the new window's end, or at once (the
caller then releases them, see scheduling.release_office_due).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import bindparam, select, update

from webapp.extensions import db
from webapp.models import Conversation, Message, Office, ReusableNumber, Status, User, utcnow
from webapp.services import audit
from webapp.services.quiet_hours import (
    QuietHours,
    QuietHoursError,
    format_local,
    parse_clock,
    parse_zone,
    release_time,
    zone_or_utc,
)

MAX_RETENTION_DAYS = 36_500  # a hundred years: anything longer is a typo


class SettingsError(ValueError):
    """Bad input, per form field (time_zone, start, end, retention_days); nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def timezone_of(office: Office) -> ZoneInfo:
    """The office's time zone (set with its quiet hours); UTC when it has none."""
    return zone_or_utc(office.time_zone)


def quiet_hours_of(office: Office) -> QuietHours | None:
    """The office's quiet hours, or None when they are off."""
    return QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end)


_offices = Office.__table__.c
# Built once: every text a bot, the API or a retry sends asks.
QUIET_HOURS_OF_OFFICE = select(
    _offices.time_zone, _offices.quiet_hours_start, _offices.quiet_hours_end
).where(_offices.id == bindparam("office_id"))


def quiet_hours_of_office(office_id: int) -> QuietHours | None:
    """The quiet hours of an office by its id (one small query)."""
    row = db.session.execute(QUIET_HOURS_OF_OFFICE, {"office_id": office_id}).first()
    return QuietHours.of(*row) if row else None


# Zones named for an offset or abbreviation keep one offset all year: with EST, 21:00 quiet hours
# start at 22:00 in New York all summer. UTC itself stays (a default, meant as such).
_FIXED_ZONES = re.compile(
    r"etc/.*|(gmt|utc|ut)?\s*[+-]\s*\d.*|[a-z]st|gmt0?|greenwich|uct|universal|zulu", re.IGNORECASE
)
# Old rule-based zones (and the server's own): not a place, whose rules may differ from the office's.
_NOT_PLACES = {"est5edt", "cst6cdt", "mst7mdt", "pst8pdt", "cet", "eet", "met", "wet", "factory", "localtime"}


@lru_cache(maxsize=1)
def _zone_keys() -> dict[str, str]:
    """Every IANA key by its lower case (no two differ only in case); read once, it scans files."""
    return {key.lower(): key for key in available_timezones()}


def parse_office_zone(text: str | None) -> ZoneInfo:
    """An office's time zone: a place's IANA name in any case (america/new_york), or UTC."""
    name = (text or "").strip()
    key = _zone_keys().get(name.lower(), name)
    if key not in ("UTC", "Etc/UTC"):
        if _FIXED_ZONES.fullmatch(key):
            raise QuietHoursError(
                f"{key} does not change for daylight saving time: use a place, such as America/New_York."
            )
        if key.lower() in _NOT_PLACES:
            raise QuietHoursError(f"{key} is not a place's time zone: use a place, such as America/New_York.")
    return parse_zone(key)


def check_quiet_hours(zone: str, start: str, end: str) -> tuple[ZoneInfo, time, time]:
    """The three settings, checked together: every field that is wrong is named."""
    errors: dict[str, str] = {}
    checked: dict[str, object] = {}
    for field, parse in (
        ("time_zone", lambda: parse_office_zone(zone)),
        ("start", lambda: parse_clock(start, "start time")),
        ("end", lambda: parse_clock(end, "end time")),
    ):
        try:
            checked[field] = parse()
        except QuietHoursError as exc:
            errors[field] = str(exc)
    if not errors and checked["start"] == checked["end"]:
        errors["end"] = "The end must differ from the start: quiet hours from a time to itself mean nothing."
    if errors:
        raise SettingsError(errors)
    return checked["time_zone"], checked["start"], checked["end"]  # type: ignore[return-value]


def set_quiet_hours(actor: User | None, office: Office, zone: str, start: str, end: str) -> QuietHours:
    """Switch on (or change) the office's quiet hours. The time zone becomes the office's."""
    zone_info, start_at, end_at = check_quiet_hours(zone, start, end)
    office.time_zone = zone_info.key
    office.quiet_hours_start, office.quiet_hours_end = start_at, end_at
    quiet = QuietHours(zone_info, start_at, end_at)
    detail = {"time_zone": zone_info.key, "start": f"{start_at:%H:%M}", "end": f"{end_at:%H:%M}"}
    summary = f"Office {office.name}: quiet hours {quiet.describe()}"
    summary += _retime_holds(office, quiet, detail)
    audit.record(actor, "office.quiet_hours", summary, [office], detail)
    return quiet


def clear_quiet_hours(actor: User | None, office: Office) -> bool:
    """Switch quiet hours off (the office keeps its time zone). False when they were off."""
    if office.quiet_hours_start is None and office.quiet_hours_end is None:
        return False
    office.quiet_hours_start = office.quiet_hours_end = None
    detail: dict[str, object] = {"off": True}
    summary = f"Office {office.name}: quiet hours off" + _retime_holds(office, None, detail)
    audit.record(actor, "office.quiet_hours", summary, [office], detail)
    return True


_MESSAGES = Message.__table__


def retime_holds_by_its_quiet_hours(office: Office, detail: dict) -> str:
    """The office's texts held by quiet hours go by its own quiet hours, as `_retime_holds` says
    (a number moved in brings texts that another office's held)."""
    quiet = QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end)
    return _retime_holds(office, quiet, detail)


def _retime_holds(office: Office, quiet: QuietHours | None, detail: dict, now: datetime | None = None) -> str:
    """Texts the office's quiet hours held (not those an agent scheduled for a chosen time) go by
    the new ones: at once when they allow it, else at the new window's end. Says so for the
    audit log (and adds the count to `detail`); empty when nothing was held. A text held on a
    number deactivated since keeps its time: it fails then, with that reason, and goes nowhere."""
    now = now or utcnow()
    held_until = release_time(now, quiet)
    numbers = select(ReusableNumber.id).where(ReusableNumber.office_id == office.id, ReusableNumber.active)
    office_conversations = select(Conversation.id).where(Conversation.number_id.in_(numbers))
    retimed = db.session.execute(
        update(_MESSAGES)
        .where(
            _MESSAGES.c.status == Status.SCHEDULED.value,
            _MESSAGES.c.held_by_quiet_hours.is_(True),
            _MESSAGES.c.conversation_id.in_(office_conversations),
        )
        .values(send_at=held_until, updated_at=now)
    ).rowcount
    if not retimed:
        return ""
    detail["held_messages"] = retimed
    detail["held_messages_send_at"] = held_until.isoformat()
    texts, go = ("1 held text", "goes") if retimed == 1 else (f"{retimed} held texts", "go")
    if held_until == now:
        return f"; {texts} {go} now"
    return f"; {texts} now {go} {format_local(held_until, quiet.zone)}"


def check_retention_days(days: str | int | None) -> int:
    text = str(days if days is not None else "").strip()
    if not re.fullmatch(r"-?[0-9]+", text):  # ASCII digits: int() refuses "²", which isdigit() takes
        raise SettingsError({"retention_days": "Enter the number of days to keep message text, e.g. 365."})
    if len(text) > 12:  # far too many days either way (and int() refuses over 4,300 digits)
        value = -1 if text.startswith("-") else MAX_RETENTION_DAYS + 1
    else:
        value = int(text)
    if value < 1:
        raise SettingsError({
            "retention_days": "Keep messages at least 1 day; to keep them without limit, switch "
            "retention off.",
        })  # fmt: skip
    if value > MAX_RETENTION_DAYS:
        raise SettingsError({"retention_days": f"Retention can be at most {MAX_RETENTION_DAYS:,} days."})
    return value


def set_retention(actor: User | None, office: Office, days: str | int | None) -> int:
    """Erase message text older than `days` every night from now on."""
    value = check_retention_days(days)
    office.retention_days = value
    days_kept = f"{value} day{'' if value == 1 else 's'}"
    audit.record(
        actor, "office.retention", f"Office {office.name}: message text kept {days_kept}", [office],
        {"retention_days": value},
    )  # fmt: skip
    return value


def clear_retention(actor: User | None, office: Office) -> bool:
    """Keep messages without limit. False when retention was off already."""
    if office.retention_days is None:
        return False
    office.retention_days = None
    audit.record(actor, "office.retention", f"Office {office.name}: retention off", [office], {"off": True})
    return True
