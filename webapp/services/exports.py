"""Office exports: an admin asks for an office's messages over a date range; the worker writes them
to a CSV file in batches (a million messages never sit in memory), counting its progress; the
download link works for EXPORT_HOURS, then the file is deleted. Requests and downloads are audited.
"""

from __future__ import annotations

import csv
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from webapp.extensions import db
from webapp.models import (
    TEXT_DIRECTIONS,
    Conversation,
    ExportStatus,
    Message,
    Office,
    OfficeExport,
    ReusableNumber,
    User,
    utcnow,
)
from webapp.queue import QueueUnavailable, enqueue_export
from webapp.services import audit, transcripts
from webapp.services.phones import format_phone
from webapp.services.quiet_hours import QuietHours, local_moment, zone_or_utc
from webapp.services.reports import OLDEST  # how far back a range may start, for both
from webapp.services.spreadsheets import CSV_START, safe_cell

log = logging.getLogger(__name__)

HEADER = ("time", "conversation_id", "number", "contact", "direction", "author", "text", "status")
MAX_DAYS = 366  # a year, leap day included
BATCH = 2000
EXPORT_HOURS = 24  # how long a download link works
QUEUE_DOWN = "The worker's queue could not be reached, so this export never started. Export again."


class ExportError(ValueError):
    """Bad input, per form field (date_from, date_to); nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class ExportGone(LookupError):
    """The export is not ready, failed, or its link has expired; the message says which."""


def _parse_day(text: str | None, what: str) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValueError(f"Enter the {what} as YYYY-MM-DD, e.g. 2026-03-01.") from None


def check_range(date_from: str | None, date_to: str | None) -> tuple[date, date]:
    """Both days included, in the office's time zone."""
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for field, text, what in (("date_from", date_from, "first day"), ("date_to", date_to, "last day")):
        try:
            days[field] = _parse_day(text, what)
        except ValueError as exc:
            errors[field] = str(exc)
    if not errors:
        first, last = days["date_from"], days["date_to"]
        today = utcnow().date()
        if last < first:
            errors["date_to"] = f"The last day ({last}) is before the first ({first}): swap them."
        elif first < today - OLDEST:  # also keeps the range's moments far from date.min
            errors["date_from"] = f"The first day can be {today - OLDEST} at the earliest."
        elif last > today + timedelta(days=MAX_DAYS):  # and from date.max
            errors["date_to"] = f"The last day can be {today + timedelta(days=MAX_DAYS)} at the latest."
        elif first > today + timedelta(days=1):  # a day ahead: the office's today, in any zone
            errors["date_from"] = (
                f"The first day ({first}) has not come yet: no message is there. Check the year."
            )
        elif (last - first).days + 1 > MAX_DAYS:
            errors["date_to"] = (
                f"An export covers at most a year ({MAX_DAYS} days); this range has "
                f"{(last - first).days + 1:,}. Export it in parts."
            )
    if errors:
        raise ExportError(errors)
    return days["date_from"], days["date_to"]


def request_export(admin: User, office: Office, date_from: str | None, date_to: str | None) -> OfficeExport:
    """Record the request (audited), commit, and queue its building by the worker."""
    first, last = check_range(date_from, date_to)
    export = OfficeExport(
        office_id=office.id,
        requested_by_id=admin.id,
        date_from=first,
        date_to=last,
        status=ExportStatus.PENDING.value,
        rows_written=0,
        file_name=f"{secrets.token_urlsafe(24)}.csv",
    )
    db.session.add(export)
    db.session.flush()
    audit.record(
        admin, "export.requested", f"Export of {office.name}'s messages from {first} to {last}", [office],
        {"export_id": export.id, "from": first.isoformat(), "to": last.isoformat()},
    )  # fmt: skip
    export_id = export.id  # read before the commit: reading it after would open a transaction
    db.session.commit()
    try:
        enqueue_export(export_id)
    except QueueUnavailable:
        # Recorded as failed, not left waiting for a worker that will never hear of it.
        _finish(export_id, ExportStatus.FAILED, 0, QUEUE_DOWN)
        raise
    return export


def exports_of(office: Office, limit: int = 20) -> list[OfficeExport]:
    return list(
        db.session.scalars(
            select(OfficeExport)
            .where(OfficeExport.office_id == office.id)
            .order_by(OfficeExport.id.desc())
            .limit(limit)
        )
    )


def folder() -> Path:
    path = Path(current_app.config["EXPORT_FOLDER"])
    path.mkdir(parents=True, exist_ok=True)
    return path


_MESSAGES = Message.__table__
_CONVERSATIONS = Conversation.__table__
_NUMBERS = ReusableNumber.__table__


def _in_range():
    return (
        _NUMBERS.c.office_id == bindparam("office_id"),
        _MESSAGES.c.created_at >= bindparam("start"),
        _MESSAGES.c.created_at < bindparam("end"),
        _MESSAGES.c.direction.in_(TEXT_DIRECTIONS),  # texts: not events, not internal notes
    )


def _from_office():
    return _MESSAGES.join(_CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id).join(
        _NUMBERS, _NUMBERS.c.id == _CONVERSATIONS.c.number_id
    )


# Built once: the worker counts first (for the progress bar), then reads batches after an id.
COUNT = select(func.count()).select_from(_from_office()).where(*_in_range())
BATCH_OF_ROWS = (
    select(
        _MESSAGES.c.id,
        _MESSAGES.c.conversation_id,
        _NUMBERS.c.phone,
        _CONVERSATIONS.c.contact_phone,
        *transcripts.LINE_COLUMNS,
    )
    .select_from(transcripts.with_authors(_from_office()))
    .where(*_in_range(), _MESSAGES.c.id > bindparam("after"))
    .order_by(_MESSAGES.c.id)
    .limit(BATCH)
)


def _cells(row, zone: ZoneInfo, quiet: QuietHours | None) -> list:
    """A message as the export's cells: the transcript's line, with its conversation and phones."""
    _id, conversation_id, number_phone, contact_phone, *columns = row
    contact = format_phone(contact_phone)
    line = transcripts.line(columns, contact, zone, quiet)
    cells = [line.time, conversation_id, format_phone(number_phone), contact, line.direction]
    return [*cells, line.author, line.text, line.status]


def build(export_id: int) -> None:
    """The worker: write the export's CSV batch by batch, counting progress as it goes. The file is
    written under a temporary name and renamed when complete, so a download never gets half."""
    claimed = db.session.execute(
        update(OfficeExport)
        .where(OfficeExport.id == export_id, OfficeExport.status == ExportStatus.PENDING.value)
        .values(status=ExportStatus.RUNNING.value)
    ).rowcount
    if not claimed:
        db.session.rollback()
        return  # built already, or being built by another worker
    export = db.session.get(OfficeExport, export_id)
    office = db.session.get(Office, export.office_id)
    zone = zone_or_utc(office.time_zone)
    quiet = QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end)
    target = folder() / export.file_name
    partial = target.with_suffix(".part")
    written = 0
    try:  # whatever fails while it is built, the export says so, with the reason
        params = {
            "office_id": office.id,
            "start": local_moment(export.date_from, datetime.min.time(), zone),
            "end": local_moment(export.date_to + timedelta(days=1), datetime.min.time(), zone),
        }
        export.total_rows = db.session.scalar(COUNT, params) or 0
        db.session.commit()
        with partial.open("w", newline="", encoding="utf-8") as out:
            out.write(CSV_START)
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(HEADER)
            after = 0
            while True:
                rows = db.session.execute(BATCH_OF_ROWS, {**params, "after": after}).all()
                db.session.rollback()  # no transaction held open across the whole export
                writer.writerows([safe_cell(cell) for cell in _cells(row, zone, quiet)] for row in rows)
                written += len(rows)
                _progress(export_id, written)
                if len(rows) < BATCH:
                    break
                after = rows[-1][0]
        partial.replace(target)
    except Exception as exc:
        log.exception("office export %s failed", export_id)
        db.session.rollback()
        partial.unlink(missing_ok=True)
        _finish(export_id, ExportStatus.FAILED, written, f"The export failed: {exc}"[:300])
        return
    _finish(export_id, ExportStatus.DONE, written)


def _progress(export_id: int, written: int) -> None:
    export = db.session.get(OfficeExport, export_id)
    export.rows_written = written
    db.session.commit()


def _finish(export_id: int, status: ExportStatus, written: int, error: str | None = None) -> None:
    export = db.session.get(OfficeExport, export_id)
    now = utcnow()
    export.status = status.value
    export.rows_written = written
    export.error = error
    export.finished_at = now
    export.expires_at = now + timedelta(hours=EXPORT_HOURS) if status == ExportStatus.DONE else None
    db.session.commit()


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str


def download(admin: User, export: OfficeExport) -> Download:
    """The export's file for an admin of its office (the caller checked that); audited."""
    if export.status != ExportStatus.DONE:
        if export.status == ExportStatus.FAILED:
            raise ExportGone(export.error or "This export failed.")
        if export.status == ExportStatus.EXPIRED:
            raise ExportGone(
                export.error or f"This download link expired {EXPORT_HOURS} hours after the export was made."
            )
        raise ExportGone("This export is not ready yet.")
    if export.expires_at is None or export.expires_at <= utcnow():
        raise ExportGone(
            f"This download link expired {EXPORT_HOURS} hours after the export was made. "
            "Export the messages again."
        )
    path = folder() / export.file_name
    if not path.exists():
        raise ExportGone("The export's file is gone. Export the messages again.")
    office = db.session.get(Office, export.office_id)
    audit.record(
        admin, "export.downloaded", f"Downloaded the export of {office.name}'s messages "
        f"from {export.date_from} to {export.date_to}", [office], {"export_id": export.id},
    )  # fmt: skip
    db.session.commit()
    slug = "".join(c if c.isalnum() else "-" for c in office.name.lower()).strip("-")
    return Download(path, f"{slug}-messages-{export.date_from}-to-{export.date_to}.csv")


RETENTION_WITHDREW = "Withdrawn when retention erased text it held. Export the messages again."


def withdraw_erased(office_id: int, before: datetime) -> int:
    """After retention erased an office's text older than `before`: its finished exports whose days
    reach back that far are withdrawn (file deleted, link answers 410), not kept for the rest of
    their day with the erased words in them. The caller commits."""
    withdrawn = list(
        db.session.scalars(
            select(OfficeExport).where(
                OfficeExport.office_id == office_id,
                OfficeExport.status == ExportStatus.DONE,
                OfficeExport.date_from <= before.date(),  # a day's span in any zone overlaps it
            )
        )
    )
    for export in withdrawn:
        (folder() / export.file_name).unlink(missing_ok=True)
        export.status = ExportStatus.EXPIRED.value
        export.error = RETENTION_WITHDREW
    return len(withdrawn)


def delete_expired() -> int:
    """Hourly: delete the files of exports whose link has expired."""
    expired = list(
        db.session.scalars(
            select(OfficeExport).where(
                OfficeExport.status == ExportStatus.DONE, OfficeExport.expires_at <= utcnow()
            )
        )
    )
    for export in expired:
        (folder() / export.file_name).unlink(missing_ok=True)
        export.status = ExportStatus.EXPIRED.value
    db.session.commit()
    return len(expired)
