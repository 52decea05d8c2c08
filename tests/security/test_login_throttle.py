"""Login throttling: 10 failed logins for one email, or 100 from one IP address, within 15 minutes
refuse further attempts (right password included) with 429 until the window has passed."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from werkzeug.security import check_password_hash

from tests.conftest import PASSWORD, IsolatedClient, csrf_token, make_app
from webapp.extensions import db
from webapp.models import LoginFailure
from webapp.services import login_throttle

EMAIL = "standard@example.edu"
THROTTLED = re.compile(r"Too many failed sign-ins for this email\. Try again in (\d+) minutes?\.")


def attempt(client, email: str, password: str, ip: str = "127.0.0.1"):
    environ = {"REMOTE_ADDR": ip}
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base=environ,
    )


def fail(client, email: str, times: int, ip: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert attempt(client, email, "wrong-password", ip).status_code == 401


def age_failures(by: timedelta) -> None:
    """As if the recorded failures happened `by` earlier."""
    for failure in db.session.scalars(select(LoginFailure)):
        failure.failed_at -= by
    db.session.commit()


def test_ten_failures_refuse_even_the_right_password_until_the_window_has_passed(client, setup):
    fail(client, EMAIL, 10)

    response = attempt(client, EMAIL, PASSWORD)
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 14 * 60 < retry_after <= 15 * 60
    page = response.get_data(as_text=True)
    assert THROTTLED.search(page).group(1) == "15"
    assert 'role="alert"' in page and 'id="password"' in page  # the form is still there

    age_failures(timedelta(minutes=14))
    response = attempt(client, EMAIL, PASSWORD)
    assert response.status_code == 429
    assert "Try again in 1 minute." in response.get_data(as_text=True)

    age_failures(timedelta(minutes=1, seconds=1))
    response = attempt(client, EMAIL, PASSWORD)
    assert response.status_code == 302


def test_an_unknown_email_is_throttled_alike(client, setup):
    fail(client, "nobody@example.edu", 10)
    response = attempt(client, "nobody@example.edu", "anything")
    assert response.status_code == 429
    assert THROTTLED.search(response.get_data(as_text=True))


def test_a_successful_login_clears_the_emails_failures(client, setup):
    fail(client, EMAIL, 9)
    assert attempt(client, EMAIL, PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})

    fail(client, EMAIL, 9)  # nine more: with the first nine they would be over the limit
    assert attempt(client, EMAIL, PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})

    fail(client, EMAIL, 10)  # the count starts again at the last success
    assert attempt(client, EMAIL, PASSWORD).status_code == 429


def test_a_hundred_failures_from_one_ip_refuse_that_address_only(client, setup):
    for n in range(100):
        login_throttle.record_failure(f"guess{n}@example.edu", "203.0.113.7")

    response = attempt(client, EMAIL, PASSWORD, ip="203.0.113.7")
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 14 * 60

    assert attempt(client, EMAIL, PASSWORD, ip="198.51.100.9").status_code == 302


def test_a_throttled_attempt_hashes_no_password(client, setup, monkeypatch):
    fail(client, EMAIL, 10)
    hashed = []
    monkeypatch.setattr(
        "webapp.models.org.check_password_hash",
        lambda *args: hashed.append(1) or check_password_hash(*args),
    )

    assert attempt(client, EMAIL, PASSWORD).status_code == 429
    assert attempt(client, "nobody@example.edu", "x", ip="198.51.100.9").status_code == 401
    assert len(hashed) == 1  # only the attempt that was not throttled
    # Refused attempts are not counted: they would otherwise prolong the refusal forever.
    failures = db.session.scalar(select(func.count()).where(LoginFailure.email == EMAIL))
    assert failures == 10


@pytest.fixture
def slots(app, monkeypatch):
    """This process's password-check slots, and a wait long enough that an attempt which waits
    is told apart from one refused at once by seconds, whatever the machine's speed."""
    monkeypatch.setattr(login_throttle, "SLOT_WAIT_SECONDS", 30.0)
    with app.test_request_context():
        return login_throttle._slots()


@contextmanager
def all_taken(slots) -> Iterator[None]:
    """One check running and one attempt waiting for it: every place taken."""
    slots.room.acquire()
    slots.room.acquire()
    slots.checks.acquire()
    try:
        yield
    finally:
        slots.checks.release()
        slots.room.release()
        slots.room.release()


def test_an_attempt_while_a_password_is_checked_waits_its_turn(app, client, setup, slots):
    """People signing in at the same moment are served one after another, not refused."""
    slots.room.acquire()
    slots.checks.acquire()  # a check running
    waiting = threading.Event()

    def finish_the_check_once_the_attempt_waits() -> None:
        while slots.room.acquire(blocking=False):  # a place left: the attempt is not waiting yet
            slots.room.release()
            time.sleep(0.01)
        waiting.set()
        slots.checks.release()
        slots.room.release()

    other = threading.Thread(target=finish_the_check_once_the_attempt_waits)
    other.start()
    assert attempt(client, EMAIL, PASSWORD, ip="203.0.113.7").status_code == 302
    other.join()
    assert waiting.is_set()


def test_attempts_beyond_the_checks_and_their_waiters_are_refused_at_once(
    app, client, setup, monkeypatch, slots
):
    """A flood from many addresses reaches no limit; its attempts still must not queue up slow
    password hashes and hold every thread that signed-in agents need."""
    hashed = []
    monkeypatch.setattr(
        "webapp.models.org.check_password_hash",
        lambda *args: hashed.append(1) or check_password_hash(*args),
    )
    with all_taken(slots):
        started = time.monotonic()
        response = attempt(client, EMAIL, PASSWORD, ip="203.0.113.7")
        assert time.monotonic() - started < 10  # refused at once, not after waiting 30 s
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert "Try again in a few seconds" in response.get_data(as_text=True)
    assert hashed == []
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0  # not a failure

    assert attempt(client, EMAIL, PASSWORD, ip="203.0.113.7").status_code == 302  # slots free again


def test_no_write_lock_is_held_while_the_current_password_is_checked(client, setup, monkeypatch):
    """A password change waits for its check and hashes outside any write transaction: on SQLite
    another writer is not kept waiting meanwhile; on PostgreSQL the request's transaction has
    written nothing yet (it holds no transaction id, so no row locks)."""
    assert attempt(client, EMAIL, PASSWORD).status_code == 302
    writable = []

    def another_writer_gets_in() -> bool | str:
        if db.engine.dialect.name != "sqlite":
            return db.session.scalar(text("SELECT pg_current_xact_id_if_assigned()")) is None
        other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:  # "database is locked"
            return str(exc)
        finally:
            other.close()

    def check_while_another_writes(*args) -> bool:
        writable.append(another_writer_gets_in())
        return check_password_hash(*args)

    monkeypatch.setattr("webapp.models.org.check_password_hash", check_while_another_writes)
    assert change_password(client, PASSWORD).status_code == 303
    assert writable == [True]


def test_ipv6_clients_are_counted_by_their_64_network(client, setup):
    """One client owns a /64 and could use a new address of it for every attempt."""
    for n in range(100):
        login_throttle.record_failure(f"guess{n}@example.edu", f"2001:db8:1:2::{n + 1:x}")

    response = attempt(client, EMAIL, PASSWORD, ip="2001:db8:1:2:ffff::7")
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network" in response.get_data(as_text=True)

    assert attempt(client, EMAIL, PASSWORD, ip="2001:db8:1:3::1").status_code == 302


def change_password(client, current: str, new: str = "a-new-password-1"):
    token = csrf_token(client, "/account")
    data = {"current_password": current, "new_password": new, "csrf_token": token}
    return client.post("/account/password", data=data)


def test_the_current_password_on_the_account_page_is_throttled_like_a_login(client, setup):
    """A stolen session cannot be used to guess the account's password without limit."""
    assert attempt(client, EMAIL, PASSWORD).status_code == 302
    for _ in range(10):
        assert change_password(client, "wrong-password").status_code == 422

    response = change_password(client, PASSWORD)
    assert response.status_code == 429
    assert 14 * 60 < int(response.headers["Retry-After"]) <= 15 * 60
    assert THROTTLED.search(response.get_data(as_text=True))
    # The password did not change; the login form is throttled for the email too.
    assert attempt(client.application.test_client(), EMAIL, PASSWORD).status_code == 429
    age_failures(timedelta(minutes=16))
    assert attempt(client.application.test_client(), EMAIL, PASSWORD).status_code == 302


def test_a_password_change_takes_a_password_check_slot_like_a_login(app, client, setup, slots):
    assert attempt(client, EMAIL, PASSWORD).status_code == 302
    with all_taken(slots):
        response = change_password(client, PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert "Try again in a few seconds" in response.get_data(as_text=True)
    assert change_password(client, PASSWORD).status_code == 303


def test_the_counts_are_shared_by_every_process(app, client, setup, database_url, tmp_path):
    other = make_app(database_url, tmp_path / "other")
    other.test_client_class = IsolatedClient
    try:
        fail(client, EMAIL, 10)
        response = attempt(other.test_client(), EMAIL, PASSWORD)
        assert response.status_code == 429
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_limits_and_window_are_configurable(setup, database_url, tmp_path):
    strict = make_app(
        database_url, tmp_path / "strict", LOGIN_MAX_FAILURES_PER_EMAIL=2, LOGIN_WINDOW_SECONDS=60
    )
    strict.test_client_class = IsolatedClient
    try:
        client = strict.test_client()
        fail(client, EMAIL, 2)
        response = attempt(client, EMAIL, PASSWORD)
        assert response.status_code == 429
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert "Try again in 1 minute." in response.get_data(as_text=True)
    finally:
        with strict.app_context():
            db.session.remove()
            db.engine.dispose()


def test_old_failures_are_deleted_as_new_ones_arrive(app, setup):
    for n in range(3):
        login_throttle.record_failure(f"old{n}@example.edu", "203.0.113.7")
    age_failures(timedelta(minutes=16))
    login_throttle.record_failure("new@example.edu", "203.0.113.7")
    assert db.session.scalars(select(LoginFailure.email)).all() == ["new@example.edu"]


def test_an_overlong_email_is_counted_not_a_server_error(client, setup):
    email = "x" * 300 + "@example.edu"
    assert attempt(client, email, "wrong").status_code == 401
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 1
