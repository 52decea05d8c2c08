from flask import Blueprint, current_app

from webapp.services import readiness

bp = Blueprint("health", __name__)

PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/healthz")
def healthz() -> tuple[str, int, dict]:
    """Liveness: no database, no session."""
    return "ok", 200, {"Content-Type": "text/plain"}


@bp.get("/readyz")
def readyz() -> tuple[str, int, dict]:
    """Readiness, for load balancers (no session): 200 while the database and the queue answer,
    else 503 naming what does not."""
    failing = readiness.unavailable(current_app.extensions["parley.huey"])
    if failing:
        return "; ".join(failing) + "\n", 503, PLAIN_TEXT
    return "ready\n", 200, PLAIN_TEXT
