"""Readiness for load balancers: does this process reach the database and the queue?"""

from __future__ import annotations

import logging

from huey import Huey
from sqlalchemy import select

from webapp.extensions import db

log = logging.getLogger(__name__)

# Built once: a load balancer asks every few seconds.
PING = select(1)


def unavailable(huey: Huey) -> list[str]:
    """What does not answer: "database", "queue", both or neither. Each is asked the cheapest
    question it answers only when it works: SELECT 1, and the queue's length."""
    failing = []
    try:
        db.session.execute(PING).scalar_one()
    except Exception:
        log.warning("readiness: the database does not answer", exc_info=True)
        db.session.rollback()
        failing.append("database")
    try:
        huey.storage.queue_size()
    except Exception:  # Redis down, the SQLite queue file unreadable, …
        log.warning("readiness: the queue does not answer", exc_info=True)
        failing.append("queue")
    return failing
