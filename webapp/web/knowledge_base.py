"""Admin: the knowledge base the bot answers from, per office, and its "I don't know" setting.

Texting - Administrative users only, and only for their own offices (403 otherwise).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import KnowledgeBaseEntry, Office
from webapp.services import bots, knowledge_base
from webapp.transactions import discard_writes
from webapp.web.rendering import redirect_to, render_screen

bp = Blueprint("knowledge_base", __name__, url_prefix="/admin/kb")

INDEX = "knowledge_base/index.html"
ENTRY_FORM = "knowledge_base/entry_form.html"


@bp.before_request
def _admins_only() -> None:
    if not current_user.is_authenticated:
        return  # the global login guard answers first
    if not current_user.is_admin:
        abort(403, "Only Texting - Administrative users manage the knowledge base.")


def _office(office_id: int) -> Office:
    try:
        return knowledge_base.managed_office(current_user, office_id)
    except knowledge_base.NotAllowed as exc:
        abort(403, str(exc))


def _entry(office: Office, entry_id: int) -> KnowledgeBaseEntry:
    found = knowledge_base.entry(office, entry_id)
    if found is None:
        abort(404)
    return found


def _fragment_status() -> int:
    """Validation errors: htmx swaps only 2xx answers, so its fragment comes back 200; else 422."""
    return 200 if request.headers.get("HX-Request") else 422


def _index(office: Office, block: str = "admin_content", status: int = 200, **extra: object):
    context = {
        "office": office,
        "offices": knowledge_base.managed_offices(current_user),
        "entries": knowledge_base.entries(office),
        "bot_numbers": knowledge_base.bot_numbers(office),
        "bot_enabled": bots.active_bot() is not None,
        "threshold": bots.confidence_threshold(),
        "trial": None,
        "trial_text": "",
        "trial_error": None,
        "idk_errors": {},
        "idk_form": {"action": office.idk_action, "message": office.idk_message},
        "max_question": knowledge_base.MAX_QUESTION_LENGTH,
        "max_answer": knowledge_base.MAX_ANSWER_LENGTH,
    }
    context.update(extra)
    return render_screen(INDEX, block, status=status, **context)


@bp.get("")
def index():
    offices = knowledge_base.managed_offices(current_user)
    if not offices:
        abort(403, "You are not a member of any office, so there is no knowledge base to manage.")
    return redirect(url_for("knowledge_base.office", office_id=offices[0].id))


@bp.get("/<int:office_id>")
def office(office_id: int):
    return _index(_office(office_id))


@bp.post("/<int:office_id>/try")
def try_question(office_id: int):
    found = _office(office_id)
    text = request.form.get("question", "")
    try:
        question = knowledge_base.validate_trial(text)
    except knowledge_base.KnowledgeBaseError as exc:
        return _index(
            found, "try_box", _fragment_status(), trial_text=text, trial_error=exc.errors["trial"]
        )
    result = bots.trial(found, question)
    return _index(_office(office_id), "try_box", trial=result, trial_text=question)


@bp.post("/<int:office_id>/idk")
def save_idk(office_id: int):
    found = _office(office_id)
    form = {
        "action": request.form.get("idk_action", ""),
        "message": request.form.get("idk_message", ""),
    }
    try:
        knowledge_base.set_idk(found, form["action"], form["message"], current_user)
    except knowledge_base.KnowledgeBaseError as exc:
        discard_writes()
        return _index(
            _office(office_id), "idk_box", _fragment_status(), idk_errors=exc.errors, idk_form=form
        )
    db.session.commit()
    found = _office(office_id)
    return _index(
        found,
        "idk_box",
        idk_form={"action": found.idk_action, "message": found.idk_message},
        idk_saved=True,
    )


def _entry_form(
    office: Office, entry: KnowledgeBaseEntry | None, form: dict, errors: dict, status: int = 200
):
    return render_screen(
        ENTRY_FORM,
        "entry_form",
        status=status,
        office=office,
        entry=entry,
        form=form,
        errors=errors,
        max_question=knowledge_base.MAX_QUESTION_LENGTH,
        max_answer=knowledge_base.MAX_ANSWER_LENGTH,
    )


def _submitted() -> dict:
    return {"question": request.form.get("question", ""), "answer": request.form.get("answer", "")}


@bp.route("/<int:office_id>/entries/new", methods=["GET", "POST"])
def new_entry(office_id: int):
    found = _office(office_id)
    if request.method == "GET":
        return _entry_form(found, None, {"question": "", "answer": ""}, {})
    form = _submitted()
    try:
        knowledge_base.add_entry(found, form["question"], form["answer"], current_user)
    except knowledge_base.KnowledgeBaseError as exc:
        discard_writes()
        return _entry_form(_office(office_id), None, form, exc.errors, _fragment_status())
    db.session.commit()
    flash("Entry added. The bot answers with it from now on.")
    return redirect_to(url_for("knowledge_base.office", office_id=office_id))


@bp.route("/<int:office_id>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(office_id: int, entry_id: int):
    found = _office(office_id)
    existing = _entry(found, entry_id)
    if request.method == "GET":
        return _entry_form(
            found, existing, {"question": existing.question, "answer": existing.answer}, {}
        )
    form = _submitted()
    try:
        knowledge_base.update_entry(existing, form["question"], form["answer"], current_user)
    except knowledge_base.KnowledgeBaseError as exc:
        discard_writes()
        found = _office(office_id)
        return _entry_form(found, _entry(found, entry_id), form, exc.errors, _fragment_status())
    db.session.commit()
    flash("Entry saved.")
    return redirect_to(url_for("knowledge_base.office", office_id=office_id))


@bp.post("/<int:office_id>/entries/<int:entry_id>/delete")
def delete_entry(office_id: int, entry_id: int):
    found = _office(office_id)
    knowledge_base.delete_entry(_entry(found, entry_id), current_user)
    db.session.commit()
    flash("Entry deleted.")
    return redirect_to(url_for("knowledge_base.office", office_id=office_id))
