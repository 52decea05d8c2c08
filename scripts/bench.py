"""Parley benchmark: seed a fresh database, serve it with gunicorn, drive it with wrk, report ratios.

    .venv/bin/python scripts/bench.py --scale 10k            # SQLite in .bench/
    DATABASE_URL=postgresql+psycopg://... .venv/bin/python scripts/bench.py  # PostgreSQL (schema dropped!)

Every target is a ratio of requests/s against GET /healthz measured by the same server in the same
run, so the numbers mean something on a noisy shared machine. Then the agent profile
(scripts/bench_agents.py) finds how many agents, polling and texting as the inbox page does, the
server holds. Results accumulate in docs/benchmarks.json and the table is rewritten in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import requests
from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_agents  # noqa: E402
import bench_seed  # noqa: E402

from plugins.plivo_sms.signatures import v3_signature  # noqa: E402

SCALES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
AUTH_ID = "MA" + "X" * 18
AUTH_TOKEN = "bench-plivo-auth-token"
BIN = Path(sys.executable).parent
# name -> (target ratio vs /healthz on each database, description). An endpoint's target is 80%
# of its ratio in the runs of 2026-11-28 at 100k (no endpoint may fall more than 20% below it);
# the unchanged poll has a target of its own.
TARGETS = {
    "healthz": (None, "GET /healthz (baseline)"),
    "webhook": ({"sqlite": 0.257, "postgresql": 0.148}, "Signed Plivo inbound webhook, unique MessageUUIDs"),
    "attention": ({"sqlite": 0.185, "postgresql": 0.126}, "Needs Attention fragment, first page (big agent)"),
    "poll304": ({"sqlite": 0.40, "postgresql": 0.30}, "Needs Attention poll, nothing changed (304)"),
    "conversation": ({"sqlite": 0.19, "postgresql": 0.138}, "Open a conversation with 50 messages"),
    "lookup": ({"sqlite": 0.322, "postgresql": 0.193}, "Contact lookup by phone"),
    "compose": ({"sqlite": 0.209, "postgresql": 0.113}, "Compose POST (message queued)"),
}
DONE_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, '
    .. '"p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors))
end
"""
LOAD_LUA = """
local rows = {}
for line in io.lines(PATH) do
  local row = {}
  for field in line:gmatch("[^\\t]+") do row[#row + 1] = field end
  rows[#rows + 1] = row
end
"""
WEBHOOKS = 60_000  # distinct signed webhooks per round: more than a 10 s run sends at any plausible rate
THREAD_LUA = """
local counter = 0
setup = function(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="100k", choices=SCALES)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per endpoint")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="gunicorn sync workers (one per core)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measure each endpoint (and /healthz before it) this many times; the median ratio is kept",
    )
    parser.add_argument(
        "--only",
        help="comma-separated endpoints to measure; `agents` is the agent profile, `reports` the "
        "Reports page, `search` the search page",
    )
    parser.add_argument(
        "--agent-steps",
        default=",".join(str(n) for n in bench_agents.DEFAULT_STEPS),
        help="numbers of agents the agent profile steps through (it stops after the first missed step)",
    )
    parser.add_argument("--agent-seconds", type=float, default=30, help="measured seconds per step")
    parser.add_argument("--agent-warmup", type=float, default=10, help="unmeasured seconds before each")
    parser.add_argument(
        "--agent-office-size",
        type=int,
        default=bench_agents.OFFICE_SIZE,
        help="agents per office (and per number): how many share each Needs Attention tab",
    )
    args = parser.parse_args()
    scale = SCALES[args.scale]
    work = ROOT / ".bench"
    work.mkdir(exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{work / f'parley-{args.scale}.db'}"
    db_kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"

    started = time.monotonic()
    fresh_database(database_url, work)
    migrated = time.monotonic()
    engine = create_engine(database_url)
    if db_kind == "sqlite":

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=OFF")

    seeded = bench_seed.seed(engine, scale)
    engine.dispose()
    seed_seconds = time.monotonic() - migrated
    print(
        f"seeded {args.scale} on {db_kind} in {seed_seconds:.0f}s "
        f"(migrations {migrated - started:.0f}s): {seeded.counts}, "
        f"big agent sees {seeded.big_agent_conversations} conversations",
        flush=True,
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(16),
        PARLEY_SMS_PROVIDERS="console plivo",
        PLIVO_AUTH_ID=AUTH_ID,
        PLIVO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=base,
        QUEUE_URL=f"sqlite:///{work / f'queue-{args.scale}.db'}",
        PARLEY_ACCESS_LOG="0",  # a line per request would be measured too, whatever .env says
    )
    workers = args.workers
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "webapp:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(base + "/healthz")
        session, csrf = login(base, seeded.big_agent_email)
        weight = page_weight(session, base)
        wanted = args.only.split(",") if args.only else [*TARGETS, "reports", "search", "agents"]
        # Pre-signing the webhooks takes a while: only for a run that measures endpoints.
        endpoints = any(name in TARGETS for name in wanted)
        scripts = write_lua(work, base, session, csrf, seeded, args) if endpoints else {}
        measured: dict[str, list[dict]] = {}
        baselines = []
        # Rounds over all endpoints, not one endpoint several times in a row: a slow spell of the
        # machine then spreads over every endpoint instead of sinking one.
        for round_number in range(args.rounds):
            for name in TARGETS:
                if name == "healthz" or name not in wanted:
                    continue
                # /healthz right before each endpoint: the machine's speed drifts within a run
                # too, and each ratio compares two measurements taken side by side.
                if name == "poll304":
                    # The tag as it is now, after the writes of the endpoints before.
                    scripts[name] = write_poll_lua(work, base, session)
                baseline = run_wrk(base, scripts["healthz"], args, server.pid)
                baselines.append(baseline)
                result = run_wrk(base, scripts[name], args, server.pid, round_number)
                result["healthz_rps"] = baseline["rps"]
                measured.setdefault(name, []).append(result)
                if db_kind == "sqlite":
                    checkpoint(database_url)
                print(
                    f"  round {round_number + 1}  {name:12} {result['rps']:8.1f} req/s  "
                    f"(/healthz {baseline['rps']:.1f}, ratio {result['rps'] / baseline['rps']:.3f})  "
                    f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                    f"errors {result['errors']}  worker RSS max {result['rss_mb']:.0f} MB",
                    flush=True,
                )
        results = {name: median_round(rounds) for name, rounds in measured.items()}
        report_page = run_reports(base, args.rounds) if "reports" in wanted else None
        search_page = run_search(base, seeded, args.rounds) if "search" in wanted else None
        agents = None
        if "agents" in wanted:
            agents = run_agents(database_url, seeded, base, server.pid, args)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not baselines and agents is None and report_page is None and search_page is None:
        raise SystemExit(f"--only {args.only}: none of {', '.join(TARGETS)}, reports, search, agents")
    if not baselines:
        record_part(
            f"{db_kind}-{args.scale}", {"agents": agents, "reports": report_page, "search": search_page}
        )
        return
    results = {"healthz": mean_of(baselines), **results}
    run = {
        "scale": args.scale,
        "db": db_kind,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seed_seconds": round(seed_seconds),
        "counts": seeded.counts,
        "big_agent_conversations": seeded.big_agent_conversations,
        "results": results,
        "page_weight": weight,
        "machine": machine(database_url),
        "wrk": f"{args.duration}s, {args.threads} threads, {args.connections} connections",
        "rounds": args.rounds,
        "workers": workers,
    }
    if agents is not None:
        run["agents"] = agents
    if report_page is not None:
        run["reports"] = report_page
    if search_page is not None:
        run["search"] = search_page
    record(run)


def run_agents(
    database_url: str, seeded: bench_seed.Seeded, base: str, master: int, args: argparse.Namespace
) -> dict:
    """The agent profile (scripts/bench_agents.py): its agents are added to the seeded data now,
    after the endpoint rounds, so that those measure the same data with or without it."""
    steps = [int(n) for n in args.agent_steps.split(",")]
    engine = create_engine(database_url)
    agents = bench_agents.setup(engine, seeded.scale, max(steps), args.agent_office_size)
    engine.dispose()
    print(f"agent profile: {max(steps)} agents in offices of {args.agent_office_size}", flush=True)
    after_step = (lambda: checkpoint(database_url)) if database_url.startswith("sqlite") else None
    return bench_agents.run(
        base,
        agents,
        steps,
        AUTH_TOKEN,
        args.agent_warmup,
        args.agent_seconds,
        lambda: worker_pids(master),
        after_step,
        args.agent_office_size,
    ) | {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def record_part(key: str, parts: dict) -> None:
    """`--only agents`, `--only reports` or `--only search`: their figures join the latest full run
    of this database and scale."""
    store = ROOT / "docs" / "benchmarks.json"
    runs = json.loads(store.read_text()) if store.exists() else {}
    if key not in runs:
        raise SystemExit(f"no full run of {key} in {store} to add {', '.join(parts)} to")
    runs[key].update({name: part for name, part in parts.items() if part is not None})
    store.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    if parts.get("agents"):
        print("\n" + "\n".join(bench_agents.render(parts["agents"])))
    if parts.get("reports"):
        print("\n" + render_reports(parts["reports"]))
    if parts.get("search"):
        print("\n" + render_search(parts["search"]))
    write_markdown(runs)


REPORTS_PATH = "/reports?range=90"
REPORTS_TARGET_MS = 500


def run_reports(base: str, rounds: int, per_round: int = 10) -> dict:
    """The Reports page over 90 days, as the admin of one office (a tenth of the data) opens it:
    one request at a time, after two unmeasured ones, timed from request to last byte."""
    session, _ = login(base, bench_seed.OFFICE_ADMIN_EMAIL)
    latencies, errors = [], 0
    for attempt in range(2 + rounds * per_round):
        started = time.perf_counter()
        answer = session.get(base + REPORTS_PATH, timeout=30)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if attempt < 2:
            continue
        latencies.append(elapsed_ms)
        errors += answer.status_code != 200 or "Texts per day" not in answer.text
    latencies.sort()
    result = {
        "path": REPORTS_PATH,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 1),
        "max_ms": round(latencies[-1], 1),
        "target_ms": REPORTS_TARGET_MS,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # A shared machine's other work slows one request at a time directly: say how busy it was.
        "load_average": round(os.getloadavg()[0], 1),
    }
    print("  " + render_reports(result), flush=True)
    return result


def render_reports(result: dict) -> str:
    verdict = "PASS" if result["p90_ms"] <= result["target_ms"] and not result["errors"] else "FAIL"
    return (
        f"- Reports page, 90 days of one office as its admin (`GET {result['path']}`, one at a time, "
        f"{result['requests']} requests, {result['when']}): p50 {result['p50_ms']:.0f} ms, p90 "
        f"{result['p90_ms']:.0f} ms, max {result['max_ms']:.0f} ms, errors {result['errors']} "
        f"(target p90 ≤ {result['target_ms']} ms: {verdict})"
        + (f"; the machine's load average was {result['load_average']}" if "load_average" in result else "")
    )


SEARCH_TARGET_MS = 150


def search_queries(seeded: bench_seed.Seeded) -> list[dict]:
    """What the big agent (20,000 of the 100,000 conversations) searches for: words as common as
    a word gets in the seed (each body is one message in eight), several words, a word no message
    has, two names, a phone typed with punctuation, and the second page of a common word."""
    area, exchange, line = (
        seeded.contact_phones[0][2:5],
        seeded.contact_phones[0][5:8],
        seeded.contact_phones[0][8:],
    )
    return [
        {"q": "deadline"},
        {"q": "campus next week"},
        {"q": "FAFSA confirmation"},
        {"q": "scholarship"},
        {"q": "Garcia"},
        {"q": "Priya"},  # no contact named Priya has a conversation the big agent sees: the longest scan
        {"q": f"({area}) {exchange}-{line}"},
        {"q": "deadline", "page": 2},
    ]


def run_search(base: str, seeded: bench_seed.Seeded, rounds: int, per_round: int = 5) -> dict:
    """The search page as the big agent opens it: one request at a time, each query of
    `search_queries` in turn (after one unmeasured pass), timed from request to last byte."""
    session, _ = login(base, seeded.big_agent_email)
    queries = search_queries(seeded)
    older = {}
    for query in queries:  # the unmeasured pass: also finds each second page's cursor
        answer = session.get(base + "/search", params={"q": query["q"]}, timeout=30)
        found = re.search(r"before=(\d+)", answer.text)
        if found:
            older[query["q"]] = found.group(1)
    latencies, errors, by_query = [], 0, {}
    for _ in range(rounds * per_round):
        for query in queries:
            params = {"q": query["q"]}
            if query.get("page") == 2:
                params["before"] = older.get(query["q"], "")
            started = time.perf_counter()
            answer = session.get(base + "/search", params=params, timeout=30)
            elapsed_ms = (time.perf_counter() - started) * 1000
            latencies.append(elapsed_ms)
            name = query["q"] + (" (older)" if query.get("page") == 2 else "")
            by_query.setdefault(name, []).append(elapsed_ms)
            errors += answer.status_code != 200
    latencies.sort()
    result = {
        "path": "/search?q=…",
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 1),
        "max_ms": round(latencies[-1], 1),
        "by_query_p50_ms": {
            name: round(sorted(values)[len(values) // 2], 1) for name, values in by_query.items()
        },
        "target_ms": SEARCH_TARGET_MS,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print("  " + render_search(result), flush=True)
    return result


def render_search(result: dict) -> str:
    verdict = "PASS" if result["p90_ms"] <= result["target_ms"] and not result["errors"] else "FAIL"
    each = ", ".join(f"“{name}” {ms:.0f} ms" for name, ms in result["by_query_p50_ms"].items())
    return (
        f"- Search as the big agent (`GET {result['path']}`, one at a time, {result['requests']} "
        f"requests, {result['when']}): p50 {result['p50_ms']:.0f} ms, p90 {result['p90_ms']:.0f} ms, "
        f"max {result['max_ms']:.0f} ms, errors {result['errors']} (target p90 ≤ {result['target_ms']} "
        f"ms: {verdict}); p50 by query: {each}; the machine's load average was {result['load_average']}"
    )


def fresh_database(database_url: str, work: Path) -> None:
    if database_url.startswith("sqlite"):
        path = Path(database_url[len("sqlite:///") :])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    for queue in work.glob("queue-*.db*"):
        queue.unlink()
    subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", "db", "upgrade"],
        cwd=ROOT,
        check=True,
        env=dict(os.environ, DATABASE_URL=database_url),
        capture_output=True,
    )


def checkpoint(database_url: str) -> None:
    """Fold the WAL back into the database between endpoints, as a quiet moment would: each
    endpoint then starts from the same state, not from the writes of the one before."""
    import sqlite3

    with sqlite3.connect(database_url[len("sqlite:///") :]) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str) -> None:
    for _ in range(200):
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server never answered {url}")


def login(base: str, email: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(base + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(
        base + "/login",
        data={"csrf_token": token, "email": email, "password": bench_seed.PASSWORD},
    )
    answer.raise_for_status()
    inbox = session.get(base + "/inbox").text
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', inbox.replace("&#34;", '"'))
    if csrf is None:
        raise SystemExit("login failed: no CSRF token on /inbox")
    return session, csrf.group(1)


def page_weight(session: requests.Session, base: str) -> dict:
    """First full load of the inbox: the HTML plus every stylesheet and script it references."""
    html = session.get(base + "/inbox", headers={"Accept-Encoding": "identity"})
    assets = re.findall(r'<(?:link[^>]+href|script[^>]+src)="(/[^"]+\.(?:css|js)[^"]*)"', html.text)
    sizes = {"/inbox": len(html.content)}
    for asset in assets:
        sizes[asset] = len(session.get(base + asset, headers={"Accept-Encoding": "identity"}).content)
    gz = session.get(base + "/inbox", headers={"Accept-Encoding": "gzip"}, stream=True)
    encoding = gz.headers.get("Content-Encoding", "none")
    gz.close()
    return {
        "total_bytes": sum(sizes.values()),
        "files": sizes,
        "compressed_when_asked": encoding,
        "gzip_size_if_compressed": len(gzip.compress(html.content)),
    }


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def write_lua(
    work: Path,
    base: str,
    session: requests.Session,
    csrf: str,
    seeded: bench_seed.Seeded,
    args: argparse.Namespace,
) -> dict[str, Path]:
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    # The browser that signed in: the same User-Agent, or session protection would mark every
    # request's session not fresh and send a new cookie back (which wrk, unlike a browser, drops).
    agent = session.headers["User-Agent"]
    auth = (
        f'wrk.headers["Cookie"] = {lua_string(cookie)}\nwrk.headers["User-Agent"] = {lua_string(agent)}\n'
        'wrk.headers["HX-Request"] = "true"\n'
    )
    scripts: dict[str, Path] = {}

    def write(name: str, body: str) -> None:
        path = work / f"{name}.lua"
        path.write_text(body + DONE_LUA)
        scripts[name] = path

    write("healthz", 'wrk.path = "/healthz"\n')
    write("attention", auth + 'wrk.path = "/inbox?tab=attention"\n')
    write("conversation", auth + f'wrk.path = "/conversations/{seeded.fifty_message_conversation_id}"\n')

    # Request data lives in tab-separated files read at start-up: LuaJIT limits a chunk's constants.
    def data(name: str, rows: list[list[str]]) -> str:
        path = work / f"{name}.tsv"
        path.write_text("".join("\t".join(row) + "\n" for row in rows))
        return LOAD_LUA.replace("PATH", lua_string(str(path)))

    write(
        "lookup",
        auth
        + THREAD_LUA
        + data("lookup", [[quote(p)] for p in seeded.contact_phones])
        + """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/contacts/lookup?phone=" .. rows[(n * 7 + tid) % #rows + 1][1])
end
""",
    )
    bodies = [
        [urlencode({"number_id": seeded.big_agent_number_id, "to": p, "body": f"Benchmark reminder {k}"})]
        for k, p in enumerate(seeded.compose_phones)
    ]
    write(
        "compose",
        auth + THREAD_LUA + f'wrk.headers["X-CSRFToken"] = {lua_string(csrf)}\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        + data("compose", bodies)
        + """
local n = 0
-- A key of its own on every request, as the compose form sends (a repeat would send nothing).
local run = os.time()
request = function()
  n = n + 1
  local key = "&idempotency_key=bench-" .. run .. "-" .. tid .. "-" .. n
  return wrk.format("POST", "/texts/new", nil, rows[(n * 7 + tid) % #rows + 1][1] .. key)
end
""",
    )
    # Webhooks: Plivo signs the body with HMAC, which wrk's Lua cannot compute, so every request
    # (unique MessageUUID, valid V3 signature) is prepared here and each wrk thread takes its share.
    url = base + "/webhooks/plivo/inbound"
    signed = []
    for k in range(WEBHOOKS * args.rounds):
        form = {
            "From": bench_seed.phone(k * 13 % (5 * seeded.scale)).lstrip("+"),
            "To": seeded.number_phones[k % len(seeded.number_phones)].lstrip("+"),
            "Text": f"Question number {k}",
            "Type": "sms",
            "MessageUUID": f"bench-{secrets.token_hex(12)}",
        }
        nonce = secrets.token_hex(8)
        signed.append([urlencode(form), v3_signature("POST", url, form, nonce, AUTH_TOKEN), nonce])
    write(
        "webhook",
        THREAD_LUA
        + data("webhook", signed)
        + f"local nthreads = {args.threads}\n"
        # Each round (BENCH_ROUND, from 0) sends its own share of the webhooks: none is a repeat.
        + f'local first = tonumber(os.getenv("BENCH_ROUND") or "0") * {WEBHOOKS}\n'
        + """
local n = 0
request = function()
  local e = rows[(first + n * nthreads + tid) % #rows + 1]
  n = n + 1
  return wrk.format("POST", "/webhooks/plivo/inbound",
    {["X-Plivo-Signature-V3"] = e[2], ["X-Plivo-Signature-V3-Nonce"] = e[3],
     ["Content-Type"] = "application/x-www-form-urlencoded"}, e[1])
end
""",
    )
    return scripts


def write_poll_lua(work: Path, base: str, session: requests.Session) -> Path:
    """The Needs Attention poll as the page sends it once it holds the tab's ETag: every request
    is answered 304 while nothing changes (nothing writes during the run)."""
    fragment = {"HX-Request": "true"}
    etag = session.get(base + "/inbox?tab=attention", headers=fragment).headers["ETag"]
    check = session.get(base + "/inbox?tab=attention", headers={**fragment, "If-None-Match": etag})
    if check.status_code != 304:
        raise SystemExit(f"the unchanged poll got {check.status_code}, not 304")
    path = work / "poll304.lua"
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    path.write_text(
        f'wrk.headers["Cookie"] = {lua_string(cookie)}\n'
        f'wrk.headers["User-Agent"] = {lua_string(session.headers["User-Agent"])}\n'
        'wrk.headers["HX-Request"] = "true"\n'
        f'wrk.headers["If-None-Match"] = {lua_string(etag)}\n'
        'wrk.path = "/inbox?tab=attention"\n' + DONE_LUA
    )
    return path


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_wrk(
    base: str, script: Path, args: argparse.Namespace, master: int, round_number: int = 0
) -> dict:
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max([peak[0], *(rss_mb(pid) for pid in worker_pids(master))])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = subprocess.run(
        [
            "wrk",
            "-t",
            str(args.threads),
            "-c",
            str(args.connections),
            "-d",
            f"{args.duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, BENCH_ROUND=str(round_number)),
    ).stdout
    stop.set()
    sampler.join()
    stats = json.loads(re.search(r"^BENCH (.*)$", output, re.M).group(1))
    return {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "errors": stats["errors"],
        "requests": stats["requests"],
        "rss_mb": peak[0],
    }


def machine(database_url: str) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    if database_url.startswith("sqlite"):
        import sqlite3

        db = f"SQLite {sqlite3.sqlite_version}"
    else:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            db = conn.execute(text("SELECT version()")).scalar().split(" on ")[0]
        engine.dispose()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": memory,
        "python": platform.python_version(),
        "db": db,
        "wrk": wrk.split(" [")[0],
        "os": platform.platform(),
    }


def record(run: dict) -> None:
    store = ROOT / "docs" / "benchmarks.json"
    store.parent.mkdir(exist_ok=True)
    runs = json.loads(store.read_text()) if store.exists() else {}
    runs[f"{run['db']}-{run['scale']}"] = run
    store.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    table = render_run(run, runs.get(f"{run['db']}-1k"))
    print("\n" + table)
    write_markdown(runs)


def mean_of(baselines: list[dict]) -> dict:
    """The /healthz row of the table: the mean of the baselines measured before each endpoint."""
    return {
        key: sum(b[key] for b in baselines) / len(baselines)
        for key in ("rps", "p50_ms", "p99_ms", "rss_mb")
    } | {"errors": sum(b["errors"] for b in baselines), "requests": sum(b["requests"] for b in baselines)}


def median_round(rounds: list[dict]) -> dict:
    """An endpoint's round with the median ratio, with every round's errors and the highest
    worker memory of them all."""
    ordered = sorted(rounds, key=lambda r: r["rps"] / r["healthz_rps"])
    median = dict(ordered[len(ordered) // 2])
    median["errors"] = sum(r["errors"] for r in rounds)
    median["rss_mb"] = max(r["rss_mb"] for r in rounds)
    median["ratios"] = [round(r["rps"] / r["healthz_rps"], 3) for r in rounds]
    return median


def ratio_of(results: dict, name: str) -> float:
    """An endpoint's requests/s against /healthz measured just before it (older runs: the one
    /healthz of the run)."""
    r = results[name]
    return r["rps"] / r.get("healthz_rps", results["healthz"]["rps"])


def render_run(run: dict, small: dict | None) -> str:
    results = run["results"]
    lines = [
        "| Endpoint | req/s | p50 ms | p99 ms | errors | ratio vs /healthz | target | result | vs 1k "
        "| each round's ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for name, (targets, label) in TARGETS.items():
        if name not in results:
            continue
        target = targets[run["db"]] if targets else None
        r = results[name]
        ratio = 1.0 if target is None else ratio_of(results, name)
        verdict = "" if target is None else ("PASS" if ratio >= target and not r["errors"] else "FAIL")
        scaling = ""
        if small and name in small["results"] and run["scale"] != "1k" and target is not None:
            # Ratios, not raw requests/s: the machine's speed drifts between runs, the ratio less so.
            small_ratio = ratio_of(small["results"], name)
            change = ratio / small_ratio
            scaling = f"{change:.2f}× ({'PASS' if change >= 0.8 else 'FAIL'})"
        lines.append(
            f"| {label} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
            f"{ratio:.3f} | {'' if target is None else f'≥ {target}'} | {verdict} | {scaling} | "
            f"{', '.join(f'{x:.3f}' for x in r.get('ratios', []))} |"
        )
    rss = max(r["rss_mb"] for r in results.values())
    weight = run["page_weight"]
    lines += [
        "",
        f"- Web worker RSS, max under load: {rss:.0f} MB "
        f"(target < 150 MB: {'PASS' if rss < 150 else 'FAIL'})",
        f"- First inbox page weight (HTML+CSS+JS, uncompressed): {weight['total_bytes'] / 1024:.1f} KB "
        f"(target ≤ 100 KB: {'PASS' if weight['total_bytes'] <= 100 * 1024 else 'FAIL'}); "
        f"Content-Encoding when gzip is asked: {weight['compressed_when_asked']}",
    ]
    if "reports" in run:
        lines.append(render_reports(run["reports"]))
    if "search" in run:
        lines.append(render_search(run["search"]))
    if "agents" in run:
        lines += bench_agents.render(run["agents"])
    return "\n".join(lines)


def write_markdown(runs: dict) -> None:
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench SCALE=1k|10k|100k` (scripts/bench.py); every run replaces its own section.",
        "Targets are ratios of requests/s against `GET /healthz` served by the same gunicorn in the same",
        "run, each endpoint against a `/healthz` measured right before it (the table's",
        "`/healthz` row is their mean). Runs since `--rounds` measure every endpoint in rounds and",
        "keep the round with the median ratio; the last column lists every round's ratio. The",
        '"vs 1k" column compares an endpoint\'s ratio with its own ratio at 1k scale on the same',
        "database (target: within 20%, i.e. ≥ 0.80×). An endpoint's target is 80% of its ratio in the",
        "runs of 2026-11-28 at 100k on the same database (none may fall more than 20% below it); the",
        "unchanged poll's is 0.40 on SQLite and 0.30 on PostgreSQL.",
        "",
        "What each row requests: the Needs Attention fragment is `GET /inbox?tab=attention` with",
        "`HX-Request: true` as the big agent (who sees a fifth of all conversations); the unchanged",
        "poll is the same request with the `If-None-Match` the page sends, answered 304; opening a",
        "conversation is the htmx fragment `GET /conversations/<id>` (50 messages, marks it read);",
        "lookup is `GET /contacts/lookup?phone=…` over 2,000 phones; compose is `POST /texts/new`",
        "with a new idempotency key each, as the form sends (no queue worker runs, so messages stay",
        "queued; runs before 2026-11-27 sent no key); webhooks are distinct pre-signed Plivo V3",
        "requests, each with a new MessageUUID, from contact phones to the 20 numbers.",
        "",
        "The agent profile under a section's table (docs/performance.md explains it) offers, open loop,",
        "the requests of N agents at their desks (each polls its Needs Attention tab and its open",
        "conversation every 3 s with the ETags it holds, replies every 2 minutes and gets a text every 2",
        "minutes) and steps N up; latency counts from each request's scheduled start. CPU shares are of",
        "all cores over the step: the generator's own, the gunicorn workers', the whole machine's.",
        "",
    ]
    for key in sorted(runs, key=lambda k: (runs[k]["db"], SCALES[runs[k]["scale"]])):
        run = runs[key]
        m = run["machine"]
        out += [
            f"## {run['db']}, scale {run['scale']} ({run['when']})",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB RAM, {m['os']}; "
            f"Python {m['python']}; "
            f"{m['db']}; {m['wrk']} ({run['wrk']}); gunicorn {run['workers']} sync workers.",
            f"Data: {run['counts']}, big agent sees {run['big_agent_conversations']} conversations; "
            f"seeded in {run['seed_seconds']} s.",
            "",
            render_run(run, runs.get(f"{run['db']}-1k")),
            "",
        ]
    notes = ROOT / "docs" / "benchmarks-notes.md"
    if notes.exists():
        out += [notes.read_text()]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(out))


if __name__ == "__main__":
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    main()
