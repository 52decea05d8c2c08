"""/admin/: the console's front page, linking to every section."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from webapp.services.admin import offices
from webapp.web.admin import bp


@bp.get("/")
def index() -> str:
    return render_template("admin/index.html", overview=offices.overview(current_user))
