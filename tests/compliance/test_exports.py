"""Office exports: an admin exports an office's messages for a date range; the worker writes the CSV
in batches (100k messages within a small memory bound), with progress, a download link that
expires, and audit entries. Bad ranges are refused and change nothing."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text

from tests.conftest import csrf_token, csv_rows, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, ExportStatus, Message, OfficeExport
from webapp.services import exports, offices


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def office_messages(setup, make, clock) -> dict:
    """Admissions (New York time) with messages around March 2026, and Financial Aid's own."""
    offices.set_quiet_hours(None, setup["office"], "America/New_York", "21:00", "08:00")
    make.office("Financial Aid")
    fa_number = make.number("+12025550200", office="Financial Aid", label="FA")
    ours = Conversation(number_id=setup["number"].id, contact_phone="+12025550143")
    theirs = Conversation(number_id=fa_number.id, contact_phone="+12025550143")
    db.session.add_all([ours, theirs])
    db.session.flush()
    rows = [
        (ours, at(2026, 2, 28, 23, 0), "Feb 28 local: before the range", "inbound"),
        (ours, at(2026, 3, 1, 5, 30), "Mar 1, 00:30 New York: the first day", "inbound"),
        (ours, at(2026, 3, 10, 15, 0), '=HYPERLINK("http://evil")', "inbound"),
        (ours, at(2026, 3, 10, 15, 5), "Thanks, noted", "outbound"),
        (ours, at(2026, 4, 1, 3, 59), "Mar 31, 23:59 New York: the last day", "inbound"),
        (ours, at(2026, 4, 1, 4, 0), "Apr 1 local: after the range", "inbound"),
        (theirs, at(2026, 3, 10, 15, 0), "Financial Aid's, not ours", "inbound"),
    ]
    for conversation, created_at, body, direction in rows:
        db.session.add(
            Message(
                conversation_id=conversation.id, direction=direction, body=body,
                author_kind="contact" if direction == "inbound" else "agent",
                author_user_id=None if direction == "inbound" else setup["users"]["standard"].id,
                status="received" if direction == "inbound" else "delivered",
                created_at=created_at, updated_at=created_at,
            )
        )  # fmt: skip
    db.session.commit()
    return setup


def export_page(client, office_id: int) -> str:
    return client.get(f"/admin/offices/{office_id}/compliance").get_data(as_text=True)


def request_export(client, office_id: int, date_from: str, date_to: str):
    token = csrf_token(client, f"/admin/offices/{office_id}/compliance")
    return client.post(
        f"/admin/offices/{office_id}/exports",
        data={"csrf_token": token, "date_from": date_from, "date_to": date_to},
    )


def test_an_admin_exports_a_month_of_messages(office_messages, client, clock):
    office_id = office_messages["office"].id
    login(client, "admin@example.edu")
    response = request_export(client, office_id, "2026-03-01", "2026-03-31")
    assert response.status_code == 303
    export = db.session.scalar(select(OfficeExport))
    assert export.status == ExportStatus.DONE  # the test queue runs the worker's task at once
    assert (export.total_rows, export.rows_written) == (4, 4)
    page = export_page(client, office_id)
    assert "2026-03-01 to 2026-03-31" in page and "4 messages" in page
    link = f"/admin/exports/{export.id}/download"
    assert link in page

    download = client.get(link)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "admissions-messages-2026-03-01-to-2026-03-31.csv" in download.headers["Content-Disposition"]
    rows = csv_rows(download)
    assert rows[0] == [
        "time",
        "conversation_id",
        "number",
        "contact",
        "direction",
        "author",
        "text",
        "status",
    ]
    assert [row[6] for row in rows[1:]] == [
        "Mar 1, 00:30 New York: the first day",
        '\'=HYPERLINK("http://evil")',  # CSV injection neutralised
        "Thanks, noted",
        "Mar 31, 23:59 New York: the last day",
    ]
    assert rows[1][0] == "2026-03-01T00:30:00-05:00"
    assert rows[3][4:6] == ["outbound", "Sam Standard"]
    kinds = list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))
    assert kinds[-2:] == ["export.requested", "export.downloaded"]

    # A day later the link has expired: a clear 410, and the worker deletes the file.
    clock.shift(timedelta(hours=exports.EXPORT_HOURS, seconds=1))
    gone = client.get(link)
    assert gone.status_code == 410 and "expired" in gone.get_data(as_text=True)
    assert exports.delete_expired() == 1
    assert not (exports.folder() / export.file_name).exists()
    assert "Link expired" in export_page(client, office_id)


def test_retention_withdraws_the_exports_holding_text_it_erased(office_messages, client, clock):
    """An export made before a retention run would keep the erased words downloadable for the rest
    of its day: the run deletes its file, and its link says why it is gone."""
    from webapp.services import retention

    office = office_messages["office"]
    clock.move_to(at(2026, 6, 1, 12, 0))
    login(client, "admin@example.edu")
    request_export(client, office.id, "2026-03-01", "2026-03-31")
    recent = request_export(client, office.id, "2026-05-30", "2026-05-31")
    assert recent.status_code == 303
    march, may = db.session.scalars(select(OfficeExport).order_by(OfficeExport.id)).all()
    assert "HYPERLINK" in (exports.folder() / march.file_name).read_text()
    offices.set_retention(None, office, 30)
    retention.erase_office(office)
    db.session.expire_all()
    gone = client.get(f"/admin/exports/{march.id}/download")
    assert gone.status_code == 410
    assert "Withdrawn when retention erased text it held" in gone.get_data(as_text=True)
    assert not (exports.folder() / march.file_name).exists()
    assert client.get(f"/admin/exports/{may.id}/download").status_code == 200  # nothing of it erased
    assert "Withdrawn when retention erased text it held" in export_page(client, office.id)


def test_a_range_that_has_not_come_yet_is_refused(office_messages):
    """A mistyped year ahead would make an empty file that looks like no messages were sent."""
    from webapp.models import utcnow

    ahead = utcnow().date() + timedelta(days=40)
    with pytest.raises(exports.ExportError) as refused:
        exports.check_range(str(ahead), str(ahead + timedelta(days=3)))
    assert refused.value.errors == {
        "date_from": f"The first day ({ahead}) has not come yet: no message is there. Check the year."
    }
    tomorrow = utcnow().date() + timedelta(days=1)  # today somewhere in the world
    assert exports.check_range(str(tomorrow), str(tomorrow)) == (tomorrow, tomorrow)


@pytest.mark.parametrize(
    ("date_from", "date_to", "error"),
    [
        ("2026-03-31", "2026-03-01", "is before the first"),
        ("2025-01-01", "2026-03-01", "at most a year"),
        ("March 1", "2026-03-31", "Enter the first day as YYYY-MM-DD"),
        ("2026-03-01", "", "Enter the last day as YYYY-MM-DD"),
        ("9999-12-31", "9999-12-31", "at the latest"),  # its end would be past the calendar's
        ("0001-01-01", "0001-01-31", "at the earliest"),
    ],
)
def test_a_bad_range_is_refused_and_nothing_is_exported(office_messages, client, date_from, date_to, error):
    login(client, "admin@example.edu")
    response = request_export(client, office_messages["office"].id, date_from, date_to)
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OfficeExport)) == 0


def test_an_export_that_cannot_be_built_says_it_failed(setup):
    """Whatever goes wrong, the export ends as failed with a reason, never waiting for ever."""
    job = OfficeExport(
        office_id=setup["office"].id, date_from=datetime(9999, 12, 31).date(),
        date_to=datetime(9999, 12, 31).date(), status=ExportStatus.PENDING.value, rows_written=0,
        file_name="beyond.csv",
    )  # fmt: skip
    db.session.add(job)
    db.session.commit()
    exports.build(job.id)
    db.session.refresh(job)
    assert job.status == "failed" and job.error.startswith("The export failed:")
    assert not (exports.folder() / "beyond.csv").exists()


def test_a_leap_year_of_366_days_is_allowed():
    assert exports.check_range("2024-01-01", "2024-12-31")


def test_only_admins_of_the_office_export_and_download(office_messages, client, make):
    office_id = office_messages["office"].id
    login(client, "admin@example.edu")
    request_export(client, office_id, "2026-03-01", "2026-03-31")
    export = db.session.scalar(select(OfficeExport))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    login(client, "standard@example.edu")
    assert client.get(f"/admin/exports/{export.id}/download").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    make.user("fa-admin@example.edu", "admin", offices=("Financial Aid",))
    login(client, "fa-admin@example.edu")
    assert client.get(f"/admin/exports/{export.id}/download").status_code == 404
    assert client.get(f"/admin/offices/{office_id}/compliance").status_code == 404
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "export.downloaded")) is None


def test_a_hundred_thousand_messages_export_within_memory_bounds(setup, app, clock):
    conversation = Conversation(number_id=setup["number"].id, contact_phone="+12025550143")
    db.session.add(conversation)
    db.session.flush()
    start = at(2026, 3, 1, 12, 0)
    total = 100_000
    # A transaction at a time per 1,000 messages: each message bumps its conversation's poll
    # counter, and on PostgreSQL every update of one row in the same transaction makes the next
    # one walk a longer chain of that row's versions (100,000 in one took minutes).
    for first in range(0, total, 1_000):
        db.session.execute(
            insert(Message),
            [
                {"conversation_id": conversation.id, "direction": "inbound", "author_kind": "contact",
                 "body": f"Message number {k} with some words in it, like a real text would have.",
                 "status": "received", "media_urls": [], "created_at": start + timedelta(seconds=k),
                 "updated_at": start}
                for k in range(first, first + 1_000)
            ],
        )  # fmt: skip
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Statistics as a live database has them: the planner then walks the conversation's index
        # in id order instead of sorting all its messages for every batch.
        db.session.execute(text("ANALYZE messages"))
        db.session.commit()
    export = exports.check_range("2026-03-01", "2026-03-31")
    job = OfficeExport(
        office_id=setup["office"].id, date_from=export[0], date_to=export[1],
        status=ExportStatus.PENDING.value, rows_written=0, file_name="big.csv",
    )  # fmt: skip
    db.session.add(job)
    db.session.commit()

    tracemalloc.start()
    try:
        exports.build(job.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    db.session.refresh(job)
    assert (job.status, job.total_rows, job.rows_written) == ("done", total, total)
    path = exports.folder() / "big.csv"
    with path.open(encoding="utf-8") as written:
        assert sum(1 for _ in written) == total + 1
    # The file is ~9 MB and the rows as Python objects far more; the worker holds one batch.
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB"
    # Emptied here, as they were written, a thousand at a time (see above), before the teardown.
    while db.session.execute(
        delete(Message).where(Message.id.in_(select(Message.id).limit(1_000)))
    ).rowcount:
        db.session.commit()
    db.session.commit()
