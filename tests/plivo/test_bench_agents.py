"""The agent profile of `make bench` (scripts/bench_agents.py), a few seconds against a real server."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.fake_plivo import AUTH_TOKEN
from tests.plivo.conftest import BASE
from webapp.extensions import db
from webapp.models import Conversation, Message

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench_agents

# Faster than an agent, so that a short run has each kind of request, and polls that find nothing new.
PERIODS = {"tab": 0.5, "conversation": 0.5, "reply": 1.0, "inbound": 1.0}


def test_agents_poll_with_their_tags_reply_and_receive_texts(app):
    agents = bench_agents.setup(db.engine, scale=1, count=4)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        bench_agents.sign_in(base, agents)
        generator = bench_agents.Generator(base, agents, AUTH_TOKEN, public_base=BASE, periods=PERIODS)
        step = bench_agents.measure_step(generator, 4, warmup=1.0, seconds=2.0, server_pids=[])
    finally:
        server.shutdown()

    assert step.errors == 0, step.by_kind
    assert {kind: step.by_kind[kind]["requests"] > 0 for kind in PERIODS} == dict.fromkeys(PERIODS, True)
    # The open conversation changes only when its agent replies or one text in three is its own:
    # most of its polls are answered 304, which they can only be with the tag sent back.
    assert step.by_kind["conversation"]["not_modified"] > 0

    open_ids = [agent.conversation_ids[0] for agent in agents]
    replies = db.session.execute(
        select(func.count()).where(
            Message.conversation_id.in_(open_ids),
            Message.direction == "outbound",
            Message.idempotency_key.like("agents-%"),
        )
    ).scalar()
    texts = db.session.execute(
        select(func.count()).where(
            Message.provider_message_id.like("agents-%"), Message.direction == "inbound"
        )
    ).scalar()
    waiting = db.session.execute(select(func.count()).where(Conversation.needs_attention)).scalar()
    assert replies > 0 and texts > 0 and waiting > 0
