"""A conversation: open it, reply (now or later), cancel a scheduled message, clear Needs
Attention, switch mode."""

from __future__ import annotations

import json
import uuid

from flask import Blueprint, Response, abort, render_template, request

from webapp.extensions import db
from webapp.models import Conversation, utcnow
from webapp.services import (
    access,
    conversations,
    inbox,
    poll_versions,
    presence,
    scheduling,
    sending,
    transcripts,
)
from webapp.services.dbutil import row_id
from webapp.services.segments import MAX_MESSAGE_LENGTH
from webapp.transactions import discard_writes, start_writing, writes
from webapp.web import plain_user, polling, signed_in, user_read_with
from webapp.web.compose import PICTURE_FORM_BYTES, PICTURE_TOO_LARGE, uploaded_picture
from webapp.web.inbox import TEMPLATE, inbox_context
from webapp.web.rendering import render_screen, wants_fragment
from webapp.web.request_limits import body_limit

bp = Blueprint("conversations", __name__)


def _visible(conversation_id: int) -> Conversation:
    try:
        return access.visible_conversation(signed_in(), conversation_id)
    except access.AccessDenied:
        abort(404)  # not 403: whether it exists is not the user's business


def _view(conversation_id: int) -> inbox.ConversationView:
    try:
        return inbox.conversation_view(signed_in(), conversation_id)
    except access.AccessDenied:
        abort(404)


def _render(conversation_id: int, **extra):
    """The conversation pane, read after the action that led here."""
    view, tag = _view_and_tag(conversation_id)
    return _render_view(view, poll_tag=tag, **extra)


def _drafts() -> dict[str, str]:
    """What the agent had typed in the reply (and its Send later time) and note boxes, which the
    pane's buttons send along (htmx), so that an action that redraws the pane keeps it."""
    return {
        "reply_text": request.form.get("body", ""),
        "send_at_text": request.form.get("send_at", "")[:40],
        "note_text": request.form.get("note", ""),
    }


def _view_and_tag(conversation_id: int) -> tuple[inbox.ConversationView, str | None]:
    """The conversation, and the tag its refresh would answer, read first: the pane carries it,
    so that the inbox's poll asks for a refresh only after a later change (a change in between
    makes the tag stale, never the content)."""
    tag = polling.conversation_tag(signed_in(), conversation_id)
    return _view(conversation_id), tag


def _render_view(
    view: inbox.ConversationView,
    block: str = "conversation_pane",
    poll_tag: str | None = None,
    done: str | None = None,
    **extra,
):
    """The pane; `done` says what an action did, for the page's live region to read out
    (workspace.js), since a screen reader does not see the pane change. Its words are none of the
    pane's own (a status, a mode's name, an event's line), which would then be on the page twice."""
    tab = request.args.get("tab") or (inbox.NEEDS_ATTENTION if view.needs_attention else inbox.PARTICIPATING)
    if wants_fragment():
        # The list pane is not re-rendered: skip its queries. The pane carries the page's title.
        context = {"view": view, "tab": tab, "pane_title": True}
    else:
        context = inbox_context(tab, open_view=view)
    context.update(
        reply_text="",
        reply_error=None,
        send_at_error=None,
        picture_error=None,
        note_text="",
        note_added=False,
        focus_heading=False,
        note_error=None,
        collision=None,
        collision_warning=None,
        action_error=None,
        max_length=MAX_MESSAGE_LENGTH,
        idempotency_key=uuid.uuid4().hex,
        send_at_text="",
        poll_etag=poll_tag and polling.etag(poll_tag, poll_versions.changes_at(view.messages)),
    )
    if block != "conversation_live":  # the reply box is not part of the live refresh
        context["hold_notice"] = view.hold_notice(utcnow())
    context.update(extra)
    response = render_screen(TEMPLATE, block, **context)
    if block != "conversation_live":
        # The list refreshes after the swap, so that it sends the tag of the pane swapped in.
        response.headers["HX-Trigger-After-Swap"] = "inbox-changed"
    if done:
        response.headers["HX-Trigger-After-Settle"] = json.dumps({"action-done": done})
    return response


def _mark_read(view: inbox.ConversationView) -> None:
    """Opening a conversation reads it; only a new inbound message makes that a write."""
    if view.unread:
        start_writing()
        conversations.mark_read(view.id, signed_in())
        db.session.commit()


@bp.get("/conversations/<int:conversation_id>")
def show(conversation_id: int):
    view, tag = _view_and_tag(conversation_id)
    _mark_read(view)
    return _render_view(view, poll_tag=tag, focus_heading=True)


@bp.get("/conversations/<int:conversation_id>/live")
@user_read_with(poll_versions.signed_in_with_conversation)
def live(conversation_id: int):
    """The open conversation's refresh, asked when the inbox's poll says it changed: its header
    and thread, fresh; 304 while they are."""
    tag = None
    if wants_fragment():
        context = polling.conversation_context(conversation_id)
        tag = poll_versions.conversation_version(signed_in(), conversation_id, context)
        if tag is None:
            abort(404)
        held = polling.held_tag(tag)
        if held:
            return polling.not_modified(held)
    view = _view(conversation_id)
    _mark_read(view)
    response = _render_view(view, "conversation_live", poll_tag=tag)
    # Not the inbox's refresh: the colleagues line, since one may have just sent what they typed.
    response.headers["HX-Trigger"] = "thread-changed"
    if tag is None:
        return response
    return polling.tagged(response, tag, until=poll_versions.changes_at(view.messages))


@bp.post("/conversations/<int:conversation_id>/messages")
@body_limit(PICTURE_FORM_BYTES, PICTURE_TOO_LARGE)
@plain_user
def reply(conversation_id: int):
    conversation = _visible(conversation_id)
    body = request.form.get("body", "")
    send_at = request.form.get("send_at", "")[:40]
    seen = row_id(request.form.get("seen_message_id"))
    # Checked first: the check for a colleague's reply locks the conversation until the reply is saved.
    picture_errors: dict[str, str] = {}
    picture = uploaded_picture(picture_errors)
    if seen is not None and not request.form.get("send_anyway"):
        # A colleague answered since this agent loaded the conversation: ask before sending.
        collision = presence.replied_since(conversation.id, seen, signed_in())
        if collision is not None:
            response = _render(
                conversation_id, reply_text=body, send_at_text=send_at, collision=collision,
                collision_warning=collision.warning(), note_text=request.form.get("note", ""),
            )  # fmt: skip
            response.status_code = 200 if request.headers.get("HX-Request") else 409
            return response
    try:
        if picture_errors:
            raise sending.SendError("picture", picture_errors["picture"])
        sent = sending.reply(
            signed_in(),
            conversation,
            body,
            idempotency_key=(request.form.get("idempotency_key") or "")[:64] or None,
            send_later=send_at,
            picture=picture,
        )
        presence.stopped_typing(conversation.id, signed_in())
        db.session.commit()
    except sending.SendError as exc:
        discard_writes()
        status = 200 if request.headers.get("HX-Request") else 422
        view, tag = _view_and_tag(conversation_id)
        # A picture's problem goes beside Attach picture, where the reply box offers one, and a
        # Send later time's beside Send at: focus goes to the field the error is about.
        at_field = {"picture": view.pictures_offered, "send_at": True}.get(exc.field, False)
        errors = {f"{exc.field}_error" if at_field else "reply_error": exc.message}
        response = _render_view(
            view, poll_tag=tag, reply_text=body, send_at_text=send_at,
            note_text=request.form.get("note", ""), **errors,
        )  # fmt: skip
        response.status_code = status
        return response
    done = "Reply held until the time shown." if sent.send_at is not None else "Reply on its way."
    return _render(conversation_id, note_text=request.form.get("note", ""), done=done)


@bp.post("/conversations/<int:conversation_id>/notes")
@plain_user
def add_note(conversation_id: int):
    """An internal note for colleagues; the reply box keeps what was typed in it."""
    conversation = _visible(conversation_id)
    text = request.form.get("note", "")
    reply_text = request.form.get("body", "")
    try:
        conversations.add_note(conversation, signed_in(), text)
    except conversations.ConversationError as exc:
        discard_writes()
        status = 200 if request.headers.get("HX-Request") else 422
        response = _render(conversation_id, note_text=text, note_error=str(exc), reply_text=reply_text)
        response.status_code = status
        return response
    db.session.commit()
    return _render(conversation_id, reply_text=reply_text, note_added=True, done="Note added.")


@bp.post("/conversations/<int:conversation_id>/messages/<int:message_id>/retry")
@plain_user
def retry(conversation_id: int, message_id: int):
    conversation = _visible(conversation_id)
    try:
        sending.retry(signed_in(), conversation, message_id)
    except sending.SendError as exc:
        discard_writes()
        status = 200 if request.headers.get("HX-Request") else 409
        response = _render(conversation_id, action_error=exc.message, **_drafts())
        response.status_code = status
        return response
    return _render(conversation_id, done="Trying again.", **_drafts())


@bp.post("/conversations/<int:conversation_id>/messages/<int:message_id>/cancel")
@plain_user
def cancel(conversation_id: int, message_id: int):
    """Cancel a scheduled message: it never goes."""
    conversation = _visible(conversation_id)
    try:
        scheduling.cancel(signed_in(), conversation, message_id)
    except (scheduling.NoSuchMessage, scheduling.ScheduleError) as exc:
        discard_writes()
        # htmx swaps only 2xx answers: it gets the pane with the refusal in it.
        refused = 404 if isinstance(exc, scheduling.NoSuchMessage) else 409
        response = _render(conversation_id, action_error=str(exc), **_drafts())
        response.status_code = 200 if request.headers.get("HX-Request") else refused
        return response
    return _render(conversation_id, done="Withdrawn; nothing will go.", **_drafts())


@bp.post("/conversations/<int:conversation_id>/attention")
@plain_user
def clear_attention(conversation_id: int):
    conversation = _visible(conversation_id)
    if conversation.needs_attention:
        conversations.clear_attention(conversation, signed_in())
        db.session.commit()
    return _render(conversation_id, done="Attention cleared.", **_drafts())


@bp.post("/conversations/<int:conversation_id>/mode")
@plain_user
def switch_mode(conversation_id: int):
    conversation = _visible(conversation_id)
    try:
        mode = conversations.switch_mode(conversation, signed_in())
    except conversations.ConversationError as exc:
        discard_writes()
        status = 200 if request.headers.get("HX-Request") else 409
        response = _render(conversation_id, action_error=str(exc), **_drafts())
        response.status_code = status
        return response
    db.session.commit()
    done = "Mode switched: " + ("the bot answers now." if mode == "bot" else "agents answer now.")
    return _render(conversation_id, done=done, **_drafts())


@bp.get("/conversations/<int:conversation_id>/transcript.csv")
@writes  # the export is audited
def transcript_csv(conversation_id: int):
    """Every message and event of the conversation as CSV, for spreadsheets and records requests."""
    head = transcripts.heading(_visible(conversation_id))
    body = transcripts.as_csv(head)
    transcripts.record_export(signed_in(), head, "csv")
    db.session.commit()
    filename = f"conversation-{conversation_id}-transcript.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/conversations/<int:conversation_id>/transcript")
@writes  # the export is audited
def transcript(conversation_id: int):
    """The transcript as a page made for printing (or saving as PDF from the browser's print)."""
    head = transcripts.heading(_visible(conversation_id))
    lines = list(transcripts.lines(head))
    transcripts.record_export(signed_in(), head, "print")
    db.session.commit()
    return render_template(
        "conversations/transcript.html", head=head, lines=lines, printed_by=signed_in().name,
        printed_at=utcnow(),
    )  # fmt: skip
