"""The audit log: who changed what and when, filtered by user and kind."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from webapp.services import audit
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
    page = audit.list_events(
        current_user, actor=actor or None, kind=kind or None, before_id=before_id
    )
    if before_id is not None:
        block = "audit_rows"
    elif request.headers.get("HX-Target") == "audit-results":
        block = "audit_results"
    else:
        block = "admin_content"
    return render_screen(
        TEMPLATE,
        block,
        page=page,
        actor=actor,
        kind=kind,
        people=users.list_users(current_user),
        kinds=audit.KINDS,
        categories=audit.CATEGORIES,
        no_user=audit.NO_USER,
    )
