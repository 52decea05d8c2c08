"""Quiet hours: the local times of day in which an office's texts wait (SPEC 10, Compliance).

Pure time arithmetic, no database: whether a moment is inside an office's window, and when that
window ends, in the office's IANA time zone, so a window across midnight or a daylight-saving
change ends at the local time the office chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# An agent's reply to a contact who texted this recently goes at once, even in quiet hours.
RECENT_CONTACT = timedelta(hours=1)


class QuietHoursError(ValueError):
    """A time zone or a time of day that cannot be used; the message says why."""


def parse_zone(name: str | None) -> ZoneInfo:
    name = (name or "").strip()
    if not name:
        raise QuietHoursError("Enter a time zone, e.g. America/New_York.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name no file could have
        raise QuietHoursError(
            f"Unknown time zone {name!r}: use an IANA name such as America/New_York or America/Chicago."
        ) from None


def parse_clock(text: str | None, what: str = "time") -> time:
    """A time of day written HH:MM (24-hour), e.g. 21:00."""
    try:
        return datetime.strptime((text or "").strip(), "%H:%M").time()
    except ValueError:
        raise QuietHoursError(f"Enter the {what} as HH:MM on a 24-hour clock, e.g. 21:00.") from None


def zone_or_utc(name: str | None) -> ZoneInfo:
    """A stored zone name, or UTC when there is none (or it is no longer known)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def local_moment(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local date and time of day as an aware UTC moment. A time the clocks skip (2:30 on the
    spring-forward night) reads with the offset before the change, i.e. that much after the
    jump; a time that happens twice (fall back) is its first occurrence."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def format_clock(clock: time) -> str:
    """9:00 PM: as people in a US office read a time of day."""
    hour = clock.hour % 12 or 12
    return f"{hour}:{clock.minute:02d} {'AM' if clock.hour < 12 else 'PM'}"


def format_local(moment: datetime, zone: ZoneInfo) -> str:
    """e.g. "Mon, Mar 9, 8:00 AM EDT": a moment in the office's own time zone."""
    local = moment.astimezone(zone)
    return f"{local:%a, %b} {local.day}, {format_clock(local.time())} {local.tzname()}"


def release_time(moment: datetime, quiet: QuietHours | None) -> datetime:
    """When a text due at `moment` goes: then, or when the quiet hours end if they cover that time
    (changed since it was scheduled, say): release holds it until their end."""
    return (quiet.hold_until(moment) if quiet is not None else None) or moment


@dataclass(frozen=True)
class QuietHours:
    zone: ZoneInfo
    start: time
    end: time  # != start; before start when the window crosses midnight

    @classmethod
    def of(cls, zone_name: str | None, start: time | None, end: time | None) -> QuietHours | None:
        """An office's stored settings, or None when quiet hours are off."""
        if start is None or end is None or start == end:
            return None
        return cls(zone_or_utc(zone_name), start, end)

    def contains(self, moment: datetime) -> bool:
        clock = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def window_end(self, moment: datetime) -> datetime:
        """When the window that `moment` is in ends (UTC); `moment` must be inside it."""
        local = moment.astimezone(self.zone)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # the evening part of a window across midnight
        end = local_moment(day, self.end, self.zone)
        if end <= moment:  # the end's time happens twice (fall back) and `moment` is past the first
            end = datetime.combine(day, self.end, tzinfo=self.zone).replace(fold=1).astimezone(UTC)
        return end

    def hold_until(self, moment: datetime) -> datetime | None:
        """Until when a text that would leave at `moment` waits; None when it may go."""
        return self.window_end(moment) if self.contains(moment) else None

    def hold_agent_text(self, moment: datetime, last_inbound_at: datetime | None) -> datetime | None:
        """An agent's Send: held like any text, except a reply to a contact who texted within
        RECENT_CONTACT, which goes at once."""
        if last_inbound_at is not None and moment - last_inbound_at <= RECENT_CONTACT:
            return None
        return self.hold_until(moment)

    def describe(self) -> str:
        """e.g. "9:00 PM–8:00 AM (America/New_York)"."""
        return f"{format_clock(self.start)}–{format_clock(self.end)} ({self.zone.key})"
