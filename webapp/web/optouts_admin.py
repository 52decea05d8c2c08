"""Admin: the opt-out list. Admins see and add opt-outs, and remove those that are theirs to
remove, with a written reason; every change is recorded."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.services import optouts
from webapp.services.admin import Forbidden, FormErrors, NotFound
from webapp.services.contacts import display_names
from webapp.services.phones import PhoneError, format_phone, parse_any_phone
from webapp.transactions import discard_writes
from webapp.web.rendering import redirect_to, render_screen

bp = Blueprint("optouts_admin", __name__, url_prefix="/admin/opt-outs")

TEMPLATE = "optouts_admin/index.html"


@bp.before_request
def admins_only() -> None:
    if not current_user.is_admin:
        abort(403, "Only Texting - Administrative users manage opt-outs.")


def _cursor(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    stamp, _, phone = raw.rpartition("_")
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (at, phone) if at.tzinfo else None


def _render(
    status: int = 200,
    form_errors: dict[str, str] | None = None,
    form_phone: str = "",
    form_note: str = "",
    notice: str = "",
    removal: dict | None = None,
):
    """The page. `removal`: a refused removal's phone, reason and error, shown on its own row."""
    query = (request.args.get("phone") or "").strip()[:40]
    if removal:
        query = removal["phone"]  # the list narrowed to the row whose form had the error
    search_error = None
    phone_filter = None
    if query:
        try:
            phone_filter = parse_any_phone(query)
        except PhoneError as exc:
            search_error = str(exc)
    rows, next_key = optouts.list_opt_outs(_cursor(request.args.get("after")), phone_filter)
    names = display_names([row.phone for row in rows])
    rights = optouts.removal_rights(current_user, rows)
    next_url = (
        url_for(".index", after=f"{next_key[0].isoformat()}_{next_key[1]}", phone=query or None)
        if next_key
        else None
    )
    return render_screen(
        TEMPLATE,
        "opt_outs_list",
        status=status,
        rows=rows,
        names=names,
        next_url=next_url,
        query=query,
        search_error=search_error,
        events=optouts.recent_events(),
        form_errors=form_errors or {},
        form_phone=form_phone,
        form_note=form_note,
        notice=notice,
        origins=rights.origins,
        refusals={row.phone: rights.refusal(row) for row in rows},
        removal=removal or {},
    )


@bp.get("/")
def index():
    return _render()


@bp.post("/")
def add():
    raw = (request.form.get("phone") or "").strip()[:40]
    note = (request.form.get("note") or "").strip()
    errors: dict[str, str] = {}
    if len(note) > optouts.REASON_MAX:
        # Refused whole, never cut: the admin shortens it and nothing was recorded.
        errors["note"] = (
            f"A note can be at most {optouts.REASON_MAX} characters; this one has {len(note):,} "
            f"({len(note) - optouts.REASON_MAX:,} too many)."
        )
    try:
        phone = parse_any_phone(raw)
    except PhoneError as exc:
        errors["phone"] = str(exc)
    if errors:
        return _render(422, form_errors=errors, form_phone=raw, form_note=note)
    if optouts.opt_out(phone, source="admin", user=current_user, detail=note) is not optouts.Change.NEW:
        discard_writes()
        errors["phone"] = "That phone has already opted out."
        return _render(422, form_errors=errors, form_phone=raw, form_note=note)
    db.session.commit()
    flash(f"{format_phone(phone)} is opted out: no number will text it.")
    return redirect_to(url_for(".index"))


@bp.get("/<phone>/remove")
def remove_page(phone: str):
    """A refused removal is shown at its form's URL: reloading or going back to it must land on
    the list (narrowed to that phone), not on a 405."""
    return redirect(url_for(".index", phone=format_phone(phone)), 303)


@bp.post("/<phone>/remove")
def remove(phone: str):
    reason = request.form.get("reason") or ""
    try:
        optouts.remove_opt_out(current_user, phone, reason)
    except NotFound:
        discard_writes()
        abort(404)
    except Forbidden as exc:
        discard_writes()
        abort(403, f"You cannot remove this opt-out. {exc}")
    except FormErrors as exc:
        discard_writes()
        return _render(422, removal={"phone": phone, "reason": reason, "error": exc.errors["reason"]})
    db.session.commit()
    flash(f"{format_phone(phone)} is off the opt-out list: it may be texted again.")
    return redirect_to(url_for(".index"))
