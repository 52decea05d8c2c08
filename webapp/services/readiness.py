"""Readiness for load balancers: does this process reach the database and the queue?"""

from __future__ import annotations

import logging

from huey import Huey
from sqlalchemy import select

from webapp.extensions import db
from webapp.services import schema

log = logging.getLogger(__name__)

# Built once: a load balancer asks every few seconds.
PING = select(1)


def unavailable(huey: Huey) -> list[str]:
    """What does not answer, in words: "database unavailable", "queue unavailable", both or neither;
    or the database's schema, when it lacks migrations this code needs (its requests would fail).
    Each is asked the cheapest question it answers only when it works: SELECT 1 and the schema's
    revision, and the queue's length."""
    failing = []
    try:
        db.session.execute(PING).scalar_one()
        if schema.pending(db.session.connection()):
            failing.append("database not migrated (run `flask --app webapp db upgrade`)")
    except Exception:
        log.warning("readiness: the database does not answer", exc_info=True)
        db.session.rollback()
        failing.append("database unavailable")
    try:
        huey.storage.queue_size()
    except Exception:  # Redis down, the SQLite queue file unreadable, …
        log.warning("readiness: the queue does not answer", exc_info=True)
        failing.append("queue unavailable")
    return failing
