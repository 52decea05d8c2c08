from flask import Blueprint, render_template
from flask_login import current_user

from webapp.services import inbox

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    return render_template("home/index.html", counts=inbox.counts(current_user))
