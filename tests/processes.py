"""Real Parley processes for fault tests: a gunicorn web server and queue workers, as production runs them,
and a Redis server of the test's own for their queue."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def isolated_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """This process's environment without Parley's own settings, for a child process of this
    checkout with its own folders (and SQLite files) under `tmp_path`, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PARLEY_", "PLIVO_", "TWILIO_", "OIDC_", "DATABASE_URL", "QUEUE_URL"))
    }
    env.update(
        PYTHONPATH=str(ROOT),  # this checkout's webapp, whichever is installed
        DATABASE_URL=f"sqlite:///{tmp_path / 'parley.db'}",
        QUEUE_URL=f"sqlite:///{tmp_path / 'queue.db'}",
        PARLEY_IMPORT_FOLDER=str(tmp_path / "imports"),
        PARLEY_EXPORT_FOLDER=str(tmp_path / "exports"),
        PARLEY_MEDIA_FOLDER=str(tmp_path / "media"),
    )
    env.update(settings)
    return env


def listening_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, handed to gunicorn as it is: no other process (a
    parallel test's server, say) can take the port between choosing it and binding it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def free_port() -> int:
    """A port free at this moment on 127.0.0.1, for a server that binds it itself (redis-server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll until `predicate()` is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@dataclass
class Stack:
    """The web app and its workers in their own processes, sharing the test database and a queue."""

    env: dict[str, str]
    log_dir: Path
    listener: socket.socket = field(default_factory=listening_socket)
    web: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _spawn(self, name: str, args: list[str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
        log = (self.log_dir / f"{name}-{time.monotonic_ns()}.log").open("wb")
        return subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            pass_fds=pass_fds,
        )

    def start_web(self) -> None:
        fd = self.listener.fileno()
        self.web = self._spawn(
            "web",
            [str(BIN / "gunicorn"), "--bind", f"fd://{fd}", "--workers", "2",
             "--threads", "4", "webapp:create_app()"],
            pass_fds=(fd,),
        )
        wait_for(self._web_up, timeout=30)

    def _web_up(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_worker(self) -> subprocess.Popen:
        worker = self._spawn("worker", [str(BIN / "flask"), "--app", "webapp", "worker"])
        self.workers.append(worker)
        return worker

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would: no clean-up runs."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in [self.web, *self.workers]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        self.listener.close()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


class Agent:
    """An agent's browser session against the real web server (forms, CSRF and all)."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        page = self.http.get(f"{base_url}/login", timeout=10).text
        response = self.http.post(
            f"{base_url}/login",
            data={"email": email, "password": password, "csrf_token": self._token(page)},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text
        self.csrf = self._token(self.http.get(f"{base_url}/inbox", timeout=10).text)

    @staticmethod
    def _token(page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def compose(self, number_id: int, to: str, body: str, key: str | None = None) -> requests.Response:
        data = {"number_id": str(number_id), "to": to, "body": body, "csrf_token": self.csrf}
        if key:
            data["idempotency_key"] = key
        return self.http.post(f"{self.base_url}/texts/new", data=data, allow_redirects=False, timeout=30)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=10)

    def post(self, path: str, **data: str) -> requests.Response:
        data = {**data, "csrf_token": self.csrf}
        return self.http.post(f"{self.base_url}{path}", data=data, allow_redirects=False, timeout=10)


@dataclass
class RedisServer:
    """A redis-server of the test's own on a free port, keeping nothing on disk: killed and started
    again on the same port, it comes back empty, as a Redis that crashed and lost its queue. The
    machine's Redis on 6379, which other tests use, is never touched."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.log_dir / f"redis-{time.monotonic_ns()}.log").open("wb")
        self.process = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.log_dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(self._up, timeout=10)

    def _up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"redis-server exited ({self.process.returncode}): port {self.port} taken?")
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: whatever was queued is gone."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
