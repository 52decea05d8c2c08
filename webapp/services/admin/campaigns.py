"""Campaign records in the admin console: upload a contact list, preview every invalid row, save
as a draft, launch, archive, browse contacts.

Big files never sit in memory: the upload is streamed into the instance folder, a queue task checks
it row by row (writing the valid rows, normalised, beside it) and, once the admin saves, a second
task inserts them in batches. Both report progress in the job row, which the page polls.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import selectinload

from webapp import queue
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignContact,
    CampaignImport,
    CampaignImportError,
    CampaignStatus,
    ImportStatus,
    User,
    utcnow,
)
from webapp.services import audit
from webapp.services.admin import (
    Conflict,
    FormErrors,
    NotFound,
    Unavailable,
    chosen_offices,
    my_office_ids,
    my_office_ids_query,
)
from webapp.services.campaigns import (
    CampaignError,
    RowError,
    campaign_named,
    name_columns_warning,
    read_contacts,
    read_header,
)
from webapp.services.directory import name_problem

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# The upload's whole request: the file, the form's other fields and the multipart framing.
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
TOO_LARGE = "The file is larger than 50 MB; split it and upload each part."
PROGRESS_EVERY = 5000  # rows between progress reports (one short transaction each)
INSERT_BATCH = 2000
ERRORS_PAGE = 100
CONTACTS_PAGE = 50
QUEUE_DOWN = (
    "Parley's background worker queue is not reachable, so nothing was saved. "
    "Try again in a minute; if it keeps happening, tell your system administrator."
)
QUEUE_DOWN_AT_UPLOAD = (
    "Parley's background worker queue is not reachable, so {filename} was not checked and nothing "
    "was saved yet. The file is kept: upload again in a minute, without choosing it again. If it "
    "keeps happening, tell your system administrator."
)
CHOOSE_FILE = "Choose a CSV file with a header row first_name,last_name,phone."
KEPT_GONE = "The file kept from your last try is no longer here; choose it again."
# An upload kept for the admin's next try is forgotten after a day (nobody came back for it).
KEPT_SECONDS = 24 * 3600
_KEPT_TOKEN = re.compile(r"[0-9a-f]{32}")


class UploadKept(Unavailable):
    """The queue could not take the check of an upload: nothing was saved, and the file is kept
    under `token` for the admin's next try (the form sends it back)."""

    def __init__(self, token: str, filename: str) -> None:
        super().__init__(QUEUE_DOWN_AT_UPLOAD.format(filename=filename))
        self.token = token
        self.filename = filename


# ---- Files ----


def _folder() -> Path:
    folder = Path(current_app.config["IMPORT_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_path(job: CampaignImport) -> Path:
    return _folder() / f"{job.stored_name}.csv"


def valid_rows_path(job: CampaignImport) -> Path:
    return _folder() / f"{job.stored_name}.valid.jsonl"


def _remove_files(job: CampaignImport) -> None:
    for path in (upload_path(job), valid_rows_path(job)):
        path.unlink(missing_ok=True)


def _store(stream: BinaryIO, path: Path) -> int:
    """Copy the upload to disk a chunk at a time; refuse files over the size limit."""
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                path.unlink(missing_ok=True)
                raise FormErrors({"file": TOO_LARGE})
            out.write(chunk)
    return size


def _kept_path(token: str) -> Path:
    return _folder() / f"{token}.kept.csv"


def kept_upload(token: str) -> bool:
    """Does `token` name an upload kept from a try the queue could not take?"""
    return bool(_KEPT_TOKEN.fullmatch(token or "")) and _kept_path(token).is_file()


def _keep(path: Path) -> str:
    """Set a stored upload aside for the admin's next try; forget those kept past a day."""
    token = uuid.uuid4().hex
    kept = _kept_path(token)
    path.replace(kept)
    os.utime(kept)  # kept from now, however long ago it was first uploaded
    cutoff = time.time() - KEPT_SECONDS
    for old in _folder().glob("*.kept.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
        except OSError:  # another process took or removed it meanwhile
            pass
    return token


def _count_lines(path: Path) -> int:
    lines = 0
    last = b"\n"
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


# ---- Upload and preview ----


def _check_campaign_name(admin: User, name: str, errors: dict[str, str]) -> str:
    name = (name or "").strip()
    if not name:
        errors["name"] = "Enter a name for the campaign record."
    elif len(name) > 200:
        errors["name"] = "A campaign name can be at most 200 characters."
    elif problem := name_problem(name):
        errors["name"] = f"A campaign name {problem}."
    elif (taken := campaign_named(name)) is not None:
        # Names are unique across offices (`campaigns launch NAME` finds one by its name alone).
        where = "" if taken.office_id in my_office_ids(admin) else " in another office"
        errors["name"] = f"A campaign named “{name}” already exists{where}; choose another name."
    return name


def start_import(
    admin: User,
    name: str,
    office_id: int | None,
    stream: BinaryIO | None,
    filename: str,
    kept: str = "",
    kept_filename: str = "",
) -> int:
    """Store an uploaded contact list and queue its check. Returns the import's id.

    Problems with the name, the office or the file's header are reported at once, and then nothing
    is kept; row problems are listed by the preview. Without a new file, `kept` names the upload
    kept from a try the queue could not take (UploadKept), uploaded as `kept_filename`.
    """
    errors: dict[str, str] = {}
    name = _check_campaign_name(admin, name, errors)
    office = None
    if office_id is None:
        errors["office"] = "Choose the office this campaign belongs to."
    else:
        try:
            office = chosen_offices(admin, {office_id})[0]
        except NotFound:
            errors["office"] = "Choose one of your offices."
    new_file = stream is not None and bool(filename)
    use_kept = not new_file and kept_upload(kept)
    if not new_file and not use_kept:
        errors["file"] = KEPT_GONE if kept else CHOOSE_FILE
    if errors:
        raise FormErrors(errors)

    stored_name = uuid.uuid4().hex
    path = _folder() / f"{stored_name}.csv"
    if use_kept:
        filename = kept_filename or "upload.csv"
        try:
            _kept_path(kept).replace(path)  # taken: sent again, the same token finds nothing
        except FileNotFoundError:  # another try took it meanwhile
            raise FormErrors({"file": KEPT_GONE}) from None
    else:
        _store(stream, path)
    try:
        _check_header(path)
    except FormErrors:
        path.unlink(missing_ok=True)
        raise
    if new_file and kept_upload(kept):
        _kept_path(kept).unlink(missing_ok=True)  # the admin chose another file instead
    job = CampaignImport(
        office_id=office.id,
        created_by_id=admin.id,
        campaign_name=name,
        filename=Path(filename).name[:255],
        stored_name=stored_name,
        status=ImportStatus.VALIDATING.value,
        rows_estimate=max(_count_lines(path) - 1, 0),
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    # The check runs in the worker (inline in tests): commit first, so it sees the job.
    db.session.commit()
    try:
        queue.enqueue_import_check(job_id)
    except Exception:  # the queue is down: save nothing, keep the file for the next try
        log.warning("could not queue the check of import %s", job_id, exc_info=True)
        db.session.execute(delete(CampaignImport).where(CampaignImport.id == job_id))
        db.session.commit()
        raise UploadKept(_keep(path), Path(filename).name[:255]) from None
    return job_id


def _check_header(path: Path) -> None:
    with path.open("rb") as raw:
        rows = read_contacts(raw)
        try:
            next(rows)
        except CampaignError as exc:
            raise FormErrors({"file": str(exc)}) from None
        except StopIteration:
            raise FormErrors(
                {"file": "The file has a header row but no contacts under it; nothing to import."}
            ) from None


def check_rows(job_id: int) -> None:
    """Queue task: check every row, keep the valid ones (normalised) for the import, list the rest.

    Nothing reaches the campaign tables here; the preview shows the outcome. An admin may discard
    the upload meanwhile: the check then stops, and leaves it discarded.
    """
    job = db.session.get(CampaignImport, job_id)
    if job is None or job.status != ImportStatus.VALIDATING:
        return
    source, target = upload_path(job), valid_rows_path(job)
    db.session.commit()  # no transaction stays open while the file is read
    try:
        _check_file(job_id, source, target)
    except _Discarded:
        for path in (source, target):
            path.unlink(missing_ok=True)


class _Discarded(Exception):
    """The admin discarded the upload while its rows were being checked."""


def _check_file(job_id: int, source: Path, target: Path) -> None:
    counts = {"rows_checked": 0, "valid_rows": 0, "invalid_rows": 0}
    errors: list[dict] = []
    try:
        with source.open("rb") as raw, target.open("w", encoding="utf-8") as out:
            # Shown on the preview (as a ready job's message) before the admin saves.
            warning = name_columns_warning(read_header(raw)) or ""
            for row in read_contacts(raw):
                counts["rows_checked"] += 1
                if isinstance(row, RowError):
                    counts["invalid_rows"] += 1
                    errors.append({"import_id": job_id, "line": row.line, "reason": row.reason[:300]})
                else:
                    counts["valid_rows"] += 1
                    record = [row.first_name, row.last_name, row.phone, row.extra]
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                if counts["rows_checked"] % PROGRESS_EVERY == 0:
                    _report(job_id, counts, errors)
    except (CampaignError, OSError, UnicodeError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, CampaignError) else f"The file could not be read ({exc})."
        # It cannot be read through: what the rows before said is not what the file holds.
        db.session.execute(delete(CampaignImportError).where(CampaignImportError.import_id == job_id))
        _finish_check(job_id, ImportStatus.REJECTED, message[:500], dict.fromkeys(counts, 0), [])
        return
    if counts["valid_rows"] == 0:
        _finish_check(
            job_id,
            ImportStatus.REJECTED,
            "The file has no valid contact rows, so there is nothing to save. Fix the rows below "
            "and upload it again.",
            counts,
            errors,
        )
    else:
        _finish_check(job_id, ImportStatus.READY, warning[:500], counts, errors)
        source.unlink(missing_ok=True)  # the checked rows beside it are all the import needs


def _report(job_id: int, counts: dict, errors: list[dict], **values: object) -> None:
    """One short transaction: the errors found so far and the counts, for the progress bar.
    Raises _Discarded, having written nothing, when the upload is no longer being checked."""
    if errors:
        db.session.execute(insert(CampaignImportError), errors)
        errors.clear()
    updated = db.session.execute(
        update(CampaignImport)
        .where(CampaignImport.id == job_id, CampaignImport.status == ImportStatus.VALIDATING.value)
        .values(**counts, **values, updated_at=utcnow())
    ).rowcount
    if not updated:
        db.session.rollback()
        raise _Discarded
    db.session.commit()


def _finish_check(job_id: int, status: ImportStatus, message: str, counts: dict, errors: list[dict]) -> None:
    _report(job_id, counts, errors, status=status.value, message=message)
    if status is ImportStatus.REJECTED:
        job = db.session.get(CampaignImport, job_id)
        _remove_files(job)
        db.session.commit()


def import_for_admin(admin: User, job_id: int) -> CampaignImport:
    job = db.session.scalar(
        select(CampaignImport).where(
            CampaignImport.id == job_id,
            CampaignImport.office_id.in_(my_office_ids_query(admin)),
        )
    )
    if job is None:
        raise NotFound("import not found")
    return job


@dataclass(frozen=True)
class ErrorPage:
    errors: list[CampaignImportError]
    next_cursor: int | None  # the line the next page continues after


def row_errors(job: CampaignImport, after_line: int | None = None, limit: int = ERRORS_PAGE) -> ErrorPage:
    query = (
        select(CampaignImportError)
        .where(CampaignImportError.import_id == job.id)
        .order_by(CampaignImportError.line)
        .limit(limit + 1)
    )
    if after_line is not None:
        query = query.where(CampaignImportError.line > after_line)
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return ErrorPage(rows, rows[-1].line if more and rows else None)


def sample_rows(job: CampaignImport, limit: int = 5) -> list[list]:
    """The first few valid rows as they will be saved, for the preview."""
    path = valid_rows_path(job)
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


# Why an upload can no longer be discarded, by its status (importing or done: it was saved).
_SAVED = "This contact list is already saved; archive the campaign instead."
_NOT_DISCARDED = {
    ImportStatus.CANCELLED: "This upload was already discarded; nothing was saved from it.",
    ImportStatus.FAILED: "This upload's import already stopped with an error and nothing was saved: "
    "there is nothing left to discard. Upload the file again to try once more.",
}


def cancel_import(admin: User, job: CampaignImport) -> None:
    """Discard an upload that was not saved."""
    if job.status not in (ImportStatus.VALIDATING, ImportStatus.READY, ImportStatus.REJECTED):
        raise Conflict(_NOT_DISCARDED.get(job.status, _SAVED))
    job.status = ImportStatus.CANCELLED.value
    _remove_files(job)


# ---- Save as draft: the import itself ----


# Why an upload cannot be saved, by its status (a second click, another tab, another admin).
_NOT_SAVED = {
    ImportStatus.VALIDATING: "This contact list is still being checked; save it once the preview "
    "shows the result.",
    ImportStatus.REJECTED: "This file has no valid contact rows, so there is nothing to save. Fix the "
    "rows listed and upload it again.",
    ImportStatus.IMPORTING: "This contact list is already saved as a draft; its contacts are being "
    "imported.",
    ImportStatus.DONE: "This contact list is already saved as a draft campaign.",
    ImportStatus.FAILED: _NOT_DISCARDED[ImportStatus.FAILED],
    ImportStatus.CANCELLED: "This upload was discarded, so there is nothing to save. Upload the file "
    "again to save it.",
}


def save_as_draft(admin: User, job: CampaignImport) -> int:
    """Create the draft campaign and queue the import of its checked rows. Returns its id."""
    if job.status != ImportStatus.READY:
        raise Conflict(_NOT_SAVED[ImportStatus(job.status)])
    errors: dict[str, str] = {}
    name = _check_campaign_name(admin, job.campaign_name, errors)
    if errors:  # another campaign took the name since the upload
        raise Conflict(
            f"A campaign named “{name}” was created since this file was uploaded, so it cannot "
            "be saved under that name. Discard this upload and upload the file again with "
            "another name."
        )
    campaign = Campaign(name=job.campaign_name, office_id=job.office_id, status=CampaignStatus.DRAFT.value)
    db.session.add(campaign)
    db.session.flush()
    job.campaign_id = campaign.id
    job.status = ImportStatus.IMPORTING.value
    event = audit.record(
        admin,
        "campaign.saved",
        f"Saved campaign {campaign.name} as a draft for {job.office.name}: "
        f"{job.valid_rows:,} contacts from {job.filename or 'a CSV file'} "
        f"({job.invalid_rows:,} invalid rows left out)",
        [job.office],
        {"campaign_id": campaign.id, "import_id": job.id},
    )
    db.session.flush()
    campaign_id, job_id, event_id = campaign.id, job.id, event.id
    db.session.commit()
    try:
        queue.enqueue_import_contacts(job_id)
    except Exception:  # the queue is down: undo the draft, the checked list stays ready
        log.warning("could not queue import %s", job_id, exc_info=True)
        db.session.execute(
            update(CampaignImport)
            .where(CampaignImport.id == job_id)
            .values(status=ImportStatus.READY.value, campaign_id=None)
        )
        db.session.execute(delete(Campaign).where(Campaign.id == campaign_id))
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
        db.session.commit()
        raise Unavailable(QUEUE_DOWN) from None
    return campaign_id


def import_contacts(job_id: int) -> None:
    """Queue task: insert the checked rows in batches, reporting progress after each.

    Starting over is safe (a worker that died mid-way): the campaign's contacts are replaced.
    If it fails, the draft campaign is removed again and the job says why.
    """
    job = db.session.get(CampaignImport, job_id)
    if job is None or job.status != ImportStatus.IMPORTING or job.campaign_id is None:
        return
    campaign_id, source = job.campaign_id, valid_rows_path(job)
    db.session.execute(delete(CampaignContact).where(CampaignContact.campaign_id == campaign_id))
    db.session.commit()
    imported = 0
    try:
        batch: list[dict] = []
        with source.open(encoding="utf-8") as lines:
            for line in lines:
                first, last, phone, extra = json.loads(line)
                batch.append(
                    {
                        "campaign_id": campaign_id,
                        "first_name": first,
                        "last_name": last,
                        "phone": phone,
                        "extra": extra,
                    }
                )
                if len(batch) >= INSERT_BATCH:
                    imported = _insert_batch(job_id, campaign_id, batch, imported)
        imported = _insert_batch(job_id, campaign_id, batch, imported)
    except Exception:  # whatever broke, the draft must not stay half-imported
        log.exception("campaign import %s failed", job_id)
        db.session.rollback()
        db.session.execute(delete(Campaign).where(Campaign.id == campaign_id))
        db.session.execute(
            update(CampaignImport)
            .where(CampaignImport.id == job_id)
            .values(
                status=ImportStatus.FAILED.value,
                message="The import stopped with an error; nothing was saved. Upload the file again.",
                campaign_id=None,
            )
        )
        job = db.session.get(CampaignImport, job_id)
        # The log said the draft was saved: it says too that the draft is gone again.
        audit.record(
            None, "campaign.import_failed",
            f"The import of campaign {job.campaign_name} for {job.office.name} stopped with an error; "
            "the draft was removed and nothing was saved",
            [job.office], {"import_id": job_id},
        )  # fmt: skip
        db.session.commit()
        return
    db.session.execute(
        update(CampaignImport)
        .where(CampaignImport.id == job_id)
        .values(status=ImportStatus.DONE.value, updated_at=utcnow())
    )
    db.session.commit()
    _remove_files(db.session.get(CampaignImport, job_id))


def _insert_batch(job_id: int, campaign_id: int, batch: list[dict], imported: int) -> int:
    if batch:
        db.session.execute(insert(CampaignContact), batch)
        imported += len(batch)
        batch.clear()
    db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(contact_count=imported))
    db.session.execute(
        update(CampaignImport)
        .where(CampaignImport.id == job_id)
        .values(imported_rows=imported, updated_at=utcnow())
    )
    db.session.commit()
    return imported


# ---- Campaign records ----


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    job: CampaignImport | None  # its import, while one runs or when one failed


def list_campaigns(admin: User) -> list[CampaignRow]:
    mine = my_office_ids_query(admin)
    campaigns = list(
        db.session.scalars(
            select(Campaign)
            .options(selectinload(Campaign.office))
            .where(Campaign.office_id.in_(mine))
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
    )
    jobs = _running_jobs([c.id for c in campaigns])
    return [CampaignRow(c, jobs.get(c.id)) for c in campaigns]


def _running_jobs(campaign_ids: list[int]) -> dict[int, CampaignImport]:
    if not campaign_ids:
        return {}
    jobs = db.session.scalars(
        select(CampaignImport).where(
            CampaignImport.campaign_id.in_(campaign_ids),
            CampaignImport.status == ImportStatus.IMPORTING,
        )
    )
    return {job.campaign_id: job for job in jobs}


def pending_uploads(admin: User) -> list[CampaignImport]:
    """Uploads being checked or waiting for the admin to save them."""
    return list(
        db.session.scalars(
            select(CampaignImport)
            .options(selectinload(CampaignImport.office))
            .where(
                CampaignImport.office_id.in_(my_office_ids_query(admin)),
                CampaignImport.status.in_([ImportStatus.VALIDATING, ImportStatus.READY]),
            )
            .order_by(CampaignImport.id.desc())
        )
    )


def campaign_for_admin(admin: User, campaign_id: int) -> Campaign:
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.office_id.in_(my_office_ids_query(admin)))
    )
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


def latest_import(campaign: Campaign) -> CampaignImport | None:
    return db.session.scalar(
        select(CampaignImport)
        .where(CampaignImport.campaign_id == campaign.id)
        .order_by(CampaignImport.id.desc())
        .limit(1)
    )


def launch(admin: User, campaign: Campaign) -> None:
    """Launched: the contact list names contacts in the inbox from now on."""
    if campaign.status == CampaignStatus.LAUNCHED:
        raise Conflict("This campaign is already launched.")
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"This campaign is {campaign.status}; only a draft can be launched.")
    job = latest_import(campaign)
    if job is not None and job.status == ImportStatus.IMPORTING:
        raise Conflict("The contact list is still importing; launch it when it is done.")
    campaign.status = CampaignStatus.LAUNCHED.value
    campaign.launched_at = utcnow()
    audit.record(
        admin,
        "campaign.launched",
        f"Launched campaign {campaign.name} ({campaign.contact_count:,} contacts)",
        [campaign.office],
        {"campaign_id": campaign.id},
    )


def archive(admin: User, campaign: Campaign) -> None:
    """Archived: off the active list. A launched campaign's contacts still name them."""
    if campaign.status == CampaignStatus.ARCHIVED:
        raise Conflict("This campaign is already archived.")
    job = latest_import(campaign)
    if job is not None and job.status == ImportStatus.IMPORTING:
        raise Conflict("The contact list is still importing; archive it when it is done.")
    was = campaign.status
    campaign.status = CampaignStatus.ARCHIVED.value
    audit.record(
        admin,
        "campaign.archived",
        f"Archived campaign {campaign.name} (was {was})",
        [campaign.office],
        {"campaign_id": campaign.id},
    )


@dataclass(frozen=True)
class ContactPage:
    contacts: list[CampaignContact]
    next_cursor: int | None  # the id the next page continues after


_PHONE_QUERY = re.compile(r"^[\d\s().+-]+$")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_contacts(
    campaign: Campaign, query: str = "", after_id: int | None = None, limit: int = CONTACTS_PAGE
) -> ContactPage:
    """A campaign's contacts in list order, optionally matching a name or phone; keyset pages."""
    stmt = (
        select(CampaignContact)
        .where(CampaignContact.campaign_id == campaign.id)
        .order_by(CampaignContact.id)
        .limit(limit + 1)
    )
    query = (query or "").strip()[:100]
    digits = re.sub(r"\D", "", query)
    if query and _PHONE_QUERY.match(query) and len(digits) >= 3:
        stmt = stmt.where(CampaignContact.phone.like(_like(digits), escape="\\"))
    elif query:
        # SQLite's lower() changes ASCII letters alone: "Émile" stays so, and is looked for so too.
        typed = query.lower()
        patterns = {_like(typed), _like(typed if typed[0].isascii() else typed[0].upper() + typed[1:])}
        full_name = func.lower(CampaignContact.first_name + " " + CampaignContact.last_name)
        names = (func.lower(CampaignContact.first_name), func.lower(CampaignContact.last_name), full_name)
        stmt = stmt.where(or_(*(name.like(pattern, escape="\\") for name in names for pattern in patterns)))
    if after_id is not None:
        stmt = stmt.where(CampaignContact.id > after_id)
    contacts = list(db.session.scalars(stmt))
    more = len(contacts) > limit
    contacts = contacts[:limit]
    return ContactPage(contacts, contacts[-1].id if more and contacts else None)
