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
PERIODS = {"tab": 0.5, "reply": 1.0, "inbound": 1.0}


def test_agents_poll_with_their_tags_reply_and_receive_texts(app):
    agents = bench_agents.setup(db.engine, scale=1, count=4)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        bench_agents.sign_in(base, agents)
        generator = bench_agents.Generator(base, agents, AUTH_TOKEN, public_base=BASE, periods=PERIODS)
        step = bench_agents.measure_step(generator, 4, warmup=1.0, seconds=2.0, server_pids=[])
        # Then nobody writes: the agents' polls, with the tags they hold, find nothing new.
        polls_only = bench_agents.Generator(base, agents, AUTH_TOKEN, periods={"tab": 0.5})
        quiet = bench_agents.measure_step(polls_only, 4, warmup=1.0, seconds=1.0, server_pids=[])
        # Then each agent's next text is for their open conversation: its refresh must follow.
        for agent in agents:
            agent.inbound_count = 0
        texts_only = bench_agents.Generator(
            base, agents, AUTH_TOKEN, public_base=BASE, periods={"tab": 0.5, "inbound": 1.0}
        )
        texted = bench_agents.measure_step(texts_only, 4, warmup=0.0, seconds=3.0, server_pids=[])
    finally:
        server.shutdown()

    assert step.errors == 0, step.by_kind
    assert all(step.by_kind[kind]["requests"] > 0 for kind in PERIODS), step.by_kind
    # The open conversation changes only when its agent replies or one text in three is its own:
    # it refreshes only when a tab poll (which checks it too) says so.
    assert step.by_kind["conversation"]["requests"] < step.by_kind["tab"]["requests"], step.by_kind
    polls = quiet.by_kind["tab"]
    assert quiet.errors == 0 and polls["requests"] >= 4, quiet.by_kind
    assert polls["not_modified"] == polls["requests"], quiet.by_kind
    assert quiet.by_kind["conversation"]["requests"] == 0, quiet.by_kind
    # One text in three is for the open conversation: each agent's pane refreshes after it, once
    # with the change (a poll that crossed that refresh may ask again, and be told 304).
    assert texted.errors == 0, texted.by_kind
    refreshes = texted.by_kind["conversation"]
    assert refreshes["requests"] - refreshes["not_modified"] == len(agents), texted.by_kind
    assert refreshes["requests"] < texted.by_kind["tab"]["requests"], texted.by_kind

    open_ids = [agent.conversation_ids[0] for agent in agents]
    replies = db.session.execute(
        select(func.count()).where(
            Message.conversation_id.in_(open_ids),
            Message.direction == "outbound",
            Message.body.like("Thanks, we are on it (%"),
        )
    ).scalar()
    texts = db.session.execute(
        select(func.count()).where(
            Message.provider_message_id.like("agents-%"), Message.direction == "inbound"
        )
    ).scalar()
    waiting = db.session.execute(select(func.count()).where(Conversation.needs_attention)).scalar()
    assert replies > 0 and texts > 0 and waiting > 0
