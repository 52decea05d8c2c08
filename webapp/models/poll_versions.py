"""Counters that tell a poll, in one small query, whether anything it shows has changed."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class PollVersion(db.Model):
    """A counter raised by database triggers (migration 0007_poll_versions) at every change a poll
    would show, whatever process or code path writes it.

    Scopes: `conversation` (its row, its messages and statuses, its contact's opt-out), `number`
    (any conversation on the number: what the inbox lists and counts), `user` (their read marks and
    participations) and `directory` (id 0: what names show: campaigns, users' names). A number's
    row also counts, in `attention`, the changes its Needs Attention tab shows (migration
    0016_attention_versions). A user's row counts per tab: `attention` what Needs Attention shows,
    `version` what Participating shows; a read mark raises the one of its conversation's tab
    (migration 0017_read_mark_versions). Only the triggers write here.
    """

    __tablename__ = "poll_versions"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=1)
    attention: Mapped[int] = mapped_column(default=0, server_default="0")
