"""Compliance in the admin console: each office's quiet hours and retention, and exports of its
messages (built by the worker, downloaded here while the link lasts). Every change is audited."""

from __future__ import annotations

from flask import abort, redirect, request, send_file, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import Office, OfficeExport, utcnow
from webapp.queue import QueueUnavailable
from webapp.services import exports, offices, retention, scheduling
from webapp.services.admin import my_offices
from webapp.services.admin import offices as admin_offices
from webapp.services.quiet_hours import format_local
from webapp.transactions import discard_writes, writes
from webapp.web.admin import bp, done, form_choice, owned, rejected, retry_later, unavailable
from webapp.web.errors import error_page
from webapp.web.rendering import render_screen, wants_fragment

TEMPLATE = "admin/compliance.html"
INDEX = "admin/compliance_index.html"
COMMON_ZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico",
)  # fmt: skip


@bp.get("/compliance")
def compliance_index():
    return render_screen(INDEX, "admin_content", offices=my_offices(current_user))


def _page(office: Office, status: int = 200, **extra):
    quiet = offices.quiet_hours_of(office)
    days = office.retention_days
    context = {
        "office": office,
        "quiet": quiet,
        "zones": COMMON_ZONES,
        "quiet_form": {
            "time_zone": office.time_zone or "",
            "start": f"{office.quiet_hours_start:%H:%M}" if office.quiet_hours_start else "",
            "end": f"{office.quiet_hours_end:%H:%M}" if office.quiet_hours_end else "",
        },
        "quiet_errors": {},
        "retention_form": {"retention_days": str(office.retention_days or "")},
        "retention_errors": {},
        # How many messages the next nightly run would erase: under the current policy, or
        # under the one being previewed before it is switched on.
        "preview": None,
        "next_run": retention.would_erase(office.id, days) if days else None,
        "export_form": {"date_from": "", "date_to": ""},
        "export_errors": {},
        "exports": exports.exports_of(office),
        "now": utcnow(),
        "local": lambda moment: format_local(moment, offices.timezone_of(office)),
    }
    context.update(extra)
    return render_screen(TEMPLATE, "admin_content", status=status, **context)


def _office(office_id: int) -> Office:
    return owned(admin_offices.office_for_admin, office_id)


def _here(office: Office) -> str:
    return url_for("admin.compliance_office", office_id=office.id)


@bp.get("/offices/<int:office_id>/compliance")
def compliance_office(office_id: int):
    return _page(_office(office_id))


@bp.get("/offices/<int:office_id>/quiet-hours")
@bp.get("/offices/<int:office_id>/retention")
def compliance_form_address(office_id: int):
    """A refused form is answered at its action's address: reloading it there, or going back to
    it, comes to the office's compliance page (not a 405)."""
    return redirect(_here(_office(office_id)))


@bp.post("/offices/<int:office_id>/quiet-hours")
def compliance_quiet_hours(office_id: int):
    office = _office(office_id)
    # Enter in a field sends the first button's action, save; a client may leave it out.
    action = form_choice("action", ("save", "off")) if request.form.get("action") else "save"
    if action == "off":
        offices.clear_quiet_hours(current_user, office)
        return done(f"Quiet hours of {office.name} are off.{_release_held(office)}", _here(office))
    form = {key: request.form.get(key, "") for key in ("time_zone", "start", "end")}
    try:
        quiet = offices.set_quiet_hours(current_user, office, form["time_zone"], form["start"], form["end"])
    except offices.SettingsError as exc:
        status = rejected()
        return _page(_office(office_id), status, quiet_form=form, quiet_errors=exc.errors)
    return done(f"Quiet hours of {office.name}: {quiet.describe()}.{_release_held(office)}", _here(office))


def _release_held(office: Office) -> str:
    """Commit the change, then send the texts the old quiet hours held that the new ones let go."""
    db.session.commit()
    released = scheduling.release_office_due(office.id)
    if not released:
        return ""
    return f" {released} held text{' was' if released == 1 else 's were'} released for sending now."


@bp.post("/offices/<int:office_id>/retention")
def compliance_retention(office_id: int):
    office = _office(office_id)
    action = form_choice("action", ("preview", "save", "off"))  # "save" erases text nightly
    if action == "off":
        offices.clear_retention(current_user, office)
        return done(f"Retention of {office.name} is off: messages are kept without limit.", _here(office))
    form = {"retention_days": request.form.get("retention_days", "")}
    try:
        days = offices.check_retention_days(form["retention_days"])
    except offices.SettingsError as exc:
        return _page(office, rejected(), retention_form=form, retention_errors=exc.errors)
    if action == "preview":
        discard_writes()
        return _page(office, retention_form=form, preview=(days, retention.would_erase(office.id, days)))
    offices.set_retention(current_user, office, days)
    return done(
        f"{office.name} keeps message text {days} days; older text is erased every night.", _here(office)
    )


@bp.post("/offices/<int:office_id>/exports")
def compliance_export(office_id: int):
    office = _office(office_id)
    form = {key: request.form.get(key, "") for key in ("date_from", "date_to")}
    try:
        export = exports.request_export(current_user, office, form["date_from"], form["date_to"])
    except exports.ExportError as exc:
        return _page(office, rejected(), export_form=form, export_errors=exc.errors)
    except QueueUnavailable:  # listed below as failed; the days stay in the form for another try
        page = _page(office, unavailable(), export_form=form, export_unavailable=exports.QUEUE_DOWN)
        return retry_later(page)
    return done(
        f"Exporting {office.name}'s messages from {export.date_from} to {export.date_to}: the "
        "download link appears below when it is ready.",
        _here(office),
    )


@bp.get("/offices/<int:office_id>/exports")
def compliance_exports(office_id: int):
    """The exports list alone: polled while one is being built, for its progress (the whole
    page without htmx)."""
    office = _office(office_id)
    if not wants_fragment():
        return _page(office)
    return render_screen(
        TEMPLATE, "exports_list", office=office, exports=exports.exports_of(office), now=utcnow(),
        local=lambda moment: format_local(moment, offices.timezone_of(office)),
    )  # fmt: skip


@bp.get("/exports/<int:export_id>/download")
@writes  # each download is audited
def compliance_download(export_id: int):
    export = db.session.get(OfficeExport, export_id)
    if export is None:
        abort(404)
    _office(export.office_id)  # 404 unless it is one of the admin's offices
    try:
        file = exports.download(current_user, export)
    except exports.ExportGone as exc:
        discard_writes()
        return error_page(410, "This export cannot be downloaded", str(exc))
    return send_file(file.path, mimetype="text/csv", as_attachment=True, download_name=file.filename)
