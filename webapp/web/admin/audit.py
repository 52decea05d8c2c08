"""The audit log: who changed what and when, filtered by user and kind."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from webapp.services import audit, optouts
from webapp.services.admin import users
from webapp.services.dbutil import row_id
from webapp.web.admin import bp
from webapp.web.rendering import render_screen

TEMPLATE = "admin/audit.html"


@bp.get("/audit")
def audit_index():
    actor = (request.args.get("user") or "").strip()[:20]
    kind = (request.args.get("kind") or "").strip()[:40]
    before_id = row_id(request.args.get("before"))
    # A filter no choice of the form gives (an edited link) lists nothing and says why: the whole
    # log under it would pass for what was asked.
    filter_error = None
    if actor and actor != audit.NO_USER and not (actor.isascii() and actor.isdigit()):
        filter_error = "The User filter is not one of its choices; choose a person from the list."
    elif kind and kind not in audit.KINDS and kind not in audit.CATEGORIES:
        filter_error = "The Kind filter is not one of its choices; choose a kind from the list."
    if filter_error:
        page = audit.AuditPage(events=[], next_cursor=None)
    else:
        page = audit.list_events(current_user, actor=actor or None, kind=kind or None, before_id=before_id)
    if before_id is not None:
        block = "audit_rows"
    elif request.headers.get("HX-Target") == "audit-results":
        block = "audit_results"
    else:
        block = "admin_content"
    return render_screen(
        TEMPLATE,
        block,
        status=422 if filter_error else 200,
        filter_error=filter_error,
        page=page,
        # The numbers opt-outs came through, shown to their own offices' admins only.
        origins=optouts.event_origins(page.events, current_user),
        actor=actor,
        kind=kind,
        people=users.list_users(current_user),
        kinds=audit.KINDS,
        categories=audit.CATEGORIES,
        no_user=audit.NO_USER,
        scheduled_jobs=audit.SCHEDULED_JOBS,
    )
