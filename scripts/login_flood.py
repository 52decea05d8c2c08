"""Does a flood of wrong passwords slow signed-in agents? Measure an agent's inbox latency while
anonymous clients post wrong passwords to /login.

    .venv/bin/python scripts/login_flood.py                 # 16 clients, one IP, 15 s per phase
    .venv/bin/python scripts/login_flood.py --spoof-ips     # each attempt from another address

A fresh SQLite database (in .bench/flood/) is seeded at 1k scale and served by gunicorn with
gunicorn.conf.py and the workers of scripts/serve.sh, on 127.0.0.1 only. The agent polls
GET /inbox?tab=attention (HX-Request: true) one request after another, first alone, then
while the clients post. Every phase is bounded in time and every client in attempts.

--spoof-ips serves with PARLEY_TRUSTED_PROXIES=1 and gives every attempt its own X-Forwarded-For
(a distributed flood: no one address or email reaches its limit, so every attempt is checked).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests
from sqlalchemy import create_engine, event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_seed  # noqa: E402
from bench import free_port, wait_for  # noqa: E402

BIN = Path(sys.executable).parent
INBOX = "/inbox?tab=attention"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--max-attempts", type=int, default=2000, help="per client, at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--spoof-ips", action="store_true")
    args = parser.parse_args()
    if not 0 < args.seconds <= 120 or not 0 < args.clients <= 64:
        raise SystemExit("keep it bounded: at most 120 s per phase and 64 clients")

    work = ROOT / ".bench" / "flood"
    work.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{work / 'parley.db'}"
    seeded = fresh_database(database_url, work)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(16),
        PUBLIC_BASE_URL=base,
        QUEUE_URL=f"sqlite:///{work / 'queue.db'}",
        PARLEY_TRUSTED_PROXIES="1" if args.spoof_ips else "0",
        PARLEY_ACCESS_LOG="0",  # a line per request would be measured too, whatever .env says
    )
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--threads", str(args.threads), "--log-level", "warning", "webapp:create_app()"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for(base + "/healthz")
        agent = sign_in(base, seeded.big_agent_email, seeded.password)
        poll(agent, base, 2.0)  # warm up both workers' caches
        quiet = poll(agent, base, args.seconds)
        stop = multiprocessing.Event()
        flood = multiprocessing.Process(
            target=run_clients, args=(base, args.clients, args.max_attempts, args.spoof_ips, stop, work)
        )
        flood.start()
        time.sleep(1.0)  # the clients have fetched their forms and are posting
        flooded = poll(agent, base, args.seconds)
        stop.set()
        flood.join(30)
        statuses = (work / "statuses.txt").read_text().strip()
    finally:
        server.terminate()
        server.wait(20)
    print(f"agent alone:     {describe(quiet)}")
    print(f"during flood:    {describe(flooded)}")
    slice_seconds = 5
    for start in range(0, int(args.seconds), slice_seconds):
        part = [(when, ms) for when, ms in flooded if start <= when < start + slice_seconds]
        if part:
            print(f"  {start:>3}-{start + slice_seconds:<3} s:     {describe(part)}")
    print(f"flood answers:   {statuses}")


def fresh_database(database_url: str, work: Path) -> bench_seed.Seeded:
    for name in ("parley.db", "parley.db-wal", "parley.db-shm", "queue.db"):
        (work / name).unlink(missing_ok=True)
    subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", "db", "upgrade"],
        cwd=ROOT, check=True, capture_output=True, env=dict(os.environ, DATABASE_URL=database_url),
    )  # fmt: skip
    engine = create_engine(database_url)

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    seeded = bench_seed.seed(engine, 1_000)
    engine.dispose()
    return seeded


def sign_in(base: str, email: str, password: str) -> requests.Session:
    session = requests.Session()
    token = TOKEN.search(session.get(base + "/login", timeout=10).text).group(1)
    answer = session.post(
        base + "/login", data={"csrf_token": token, "email": email, "password": password},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    if answer.status_code != 302:
        raise SystemExit(f"the agent could not sign in: {answer.status_code}")
    return session


def poll(agent: requests.Session, base: str, seconds: float) -> list[tuple[float, float]]:
    """The agent's inbox tab, one request after another: (seconds since the start, latency in
    milliseconds) of each."""
    latencies = []
    begun = time.monotonic()
    while time.monotonic() < begun + seconds:
        started = time.perf_counter()
        answer = agent.get(base + INBOX, headers={"HX-Request": "true"}, timeout=30)
        latencies.append((time.monotonic() - begun, (time.perf_counter() - started) * 1000))
        if answer.status_code != 200:
            raise SystemExit(f"the agent's inbox answered {answer.status_code}")
    return latencies


def run_clients(base: str, clients: int, max_attempts: int, spoof: bool, stop, work: Path) -> None:
    """In its own process, so that the clients' work does not delay the agent's measurements."""
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def client(number: int) -> None:
        session = requests.Session()
        token = TOKEN.search(session.get(base + "/login", timeout=10).text).group(1)
        for attempt in range(max_attempts):
            if stop.is_set():
                return
            address = f"10.{number}.{attempt // 250}.{attempt % 250 + 1}"
            headers = {"X-Forwarded-For": address} if spoof else {}
            data = {"csrf_token": token, "email": f"guess{number}-{attempt}@example.edu", "password": "wrong"}
            try:
                answer = session.post(base + "/login", data=data, headers=headers, timeout=30)
                status = str(answer.status_code)
            except requests.RequestException as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    summary = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    (work / "statuses.txt").write_text(f"{total} attempts in {elapsed:.1f} s ({summary})\n")


def describe(latencies: list[tuple[float, float]]) -> str:
    ordered = sorted(latency for _when, latency in latencies)
    p90 = ordered[int(len(ordered) * 0.9)]
    return (
        f"{len(ordered)} requests, median {statistics.median(ordered):.0f} ms, "
        f"p90 {p90:.0f} ms, max {ordered[-1]:.0f} ms"
    )


if __name__ == "__main__":
    main()
