from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[str, int, dict]:
    """Liveness: no database, no session."""
    return "ok", 200, {"Content-Type": "text/plain"}
