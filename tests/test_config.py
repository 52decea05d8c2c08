"""Configuration a running Parley could not use is refused at start-up, with a message naming the
variable, rather than accepted and failing later in the requests or tasks that read it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import make_app, serving
from tests.processes import isolated_env
from webapp import StartupRefused, check_settings
from webapp.config import Config

# Each variable in seconds, and the setting it becomes.
DURATIONS = {
    "PARLEY_BOT_TIMEOUT_SECONDS": "BOT_TIMEOUT_SECONDS",
    "PARLEY_BOT_ESCALATE_AFTER_SECONDS": "BOT_ESCALATE_AFTER_SECONDS",
    "PARLEY_LOGIN_WINDOW_SECONDS": "LOGIN_WINDOW_SECONDS",
    "PARLEY_WEBHOOK_RETRY_BASE_SECONDS": "WEBHOOK_RETRY_BASE_SECONDS",
    "PARLEY_WEBHOOK_TIMEOUT_SECONDS": "WEBHOOK_TIMEOUT_SECONDS",
    "PARLEY_OIDC_TIMEOUT_SECONDS": "OIDC_TIMEOUT_SECONDS",
    "PLIVO_TIMEOUT_SECONDS": "PLIVO_TIMEOUT_SECONDS",
    "TWILIO_TIMEOUT_SECONDS": "TWILIO_TIMEOUT_SECONDS",
    "PARLEY_SEND_RETRY_BASE_SECONDS": "SEND_RETRY_BASE_SECONDS",
    "PARLEY_SWEEP_QUEUED_AFTER_SECONDS": "SWEEP_QUEUED_AFTER_SECONDS",
    "PARLEY_SENDING_TIMEOUT_SECONDS": "SENDING_TIMEOUT_SECONDS",
    "PARLEY_MEDIA_URL_SECONDS": "MEDIA_URL_SECONDS",
}


def refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refusal:
        Config(str(tmp_path))
    return str(refusal.value)


@pytest.mark.parametrize(
    "value", ["lots", "5 per fortnight", "300 per minute; 10 per second", "0 per minute", "300"]
)
def test_a_rate_limit_that_cannot_be_read_is_refused(monkeypatch, tmp_path, value):
    message = refused(monkeypatch, tmp_path, "PARLEY_API_RATE_LIMIT", value)
    assert "PARLEY_API_RATE_LIMIT" in message
    assert "300 per minute" in message  # what a good one looks like


@pytest.mark.parametrize("value", ["1000 per hour", "10/second", " 5 per minute "])
def test_a_rate_limit_in_the_limits_notation_is_taken(monkeypatch, tmp_path, value):
    monkeypatch.setenv("PARLEY_API_RATE_LIMIT", value)
    assert Config(str(tmp_path)).API_RATE_LIMIT == value.strip()


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", ["soon", "inf", "nan", "1e300", "-5"])
def test_a_duration_that_cannot_be_waited_is_refused(monkeypatch, tmp_path, name, value):
    # Infinity, NaN and centuries pass float() but make timedelta or a thread's wait raise in
    # the middle of a request or task.
    message = refused(monkeypatch, tmp_path, name, value)
    assert name in message and repr(value) in message


@pytest.mark.parametrize("name", DURATIONS)
def test_a_duration_in_seconds_is_taken(monkeypatch, tmp_path, name):
    monkeypatch.setenv(name, "2.5")
    assert getattr(Config(str(tmp_path)), DURATIONS[name]) == 2.5


COUNTS = [
    "PARLEY_LOGIN_MAX_FAILURES_PER_EMAIL",
    "PARLEY_LOGIN_MAX_FAILURES_PER_IP",
    "PARLEY_WEBHOOK_LOG_DAYS",
    "PARLEY_SEND_MAX_ATTEMPTS",
]


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("value", ["99999999999999999999", "many", "²"])
def test_a_count_too_large_to_use_is_refused(monkeypatch, tmp_path, name, value):
    # A count the database cannot hold (the login throttle's query) or a day count past the
    # calendar (the webhook log's pruning) would fail only when used.
    message = refused(monkeypatch, tmp_path, name, value)
    assert name in message and repr(value) in message


@pytest.mark.parametrize(
    "name",
    ["PARLEY_LOGIN_CHECKS_PER_PROCESS", "PARLEY_WEBHOOK_CONCURRENCY", "PARLEY_WEBHOOK_LOG_DAYS",
     "PARLEY_SEND_MAX_ATTEMPTS", "PARLEY_MEDIA_URL_SECONDS"],
)  # fmt: skip
def test_zero_is_refused_where_it_would_stop_the_work(monkeypatch, tmp_path, name):
    """No password checks, webhook threads, days of log or send attempts; a picture link expired as it
    is made: refused at start rather than quietly raised to 1 or accepted."""
    message = refused(monkeypatch, tmp_path, name, "0")
    assert name in message and "'0'" in message


@pytest.mark.parametrize(("given", "missing"), [("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"),
                                                ("PLIVO_AUTH_TOKEN", "PLIVO_AUTH_ID")])  # fmt: skip
def test_half_of_plivos_credentials_is_refused_naming_the_other(monkeypatch, tmp_path, given, missing):
    monkeypatch.delenv(missing, raising=False)
    message = refused(monkeypatch, tmp_path, given, "MAXXXXXXXXXXXXXXXXXX")
    assert message == f"{given} is set but {missing} is not: set both to use Plivo, or neither"


@pytest.mark.parametrize("value", ["parley.example.edu", "ftp://parley.example.edu", "https://", "https://[::1"])
def test_a_public_base_url_that_is_no_http_url_is_refused(monkeypatch, tmp_path, value):
    # Webhook signatures are checked against it and picture links made from it.
    message = refused(monkeypatch, tmp_path, "PUBLIC_BASE_URL", value)
    assert "PUBLIC_BASE_URL" in message and repr(value) in message


def test_a_public_base_url_is_taken_without_its_trailing_slash(monkeypatch, tmp_path):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://parley.example.edu/texting/")
    assert Config(str(tmp_path)).PUBLIC_BASE_URL == "https://parley.example.edu/texting"


@pytest.mark.parametrize("value", ["bogus://", "memory", "redis://127.0.0.1:notaport/0"])
def test_a_rate_limit_store_that_cannot_be_used_is_named(database_url, tmp_path, value):
    with pytest.raises(ValueError, match="PARLEY_API_RATE_LIMIT_STORAGE"):
        make_app(database_url, tmp_path, API_RATE_LIMIT_STORAGE=value)


def only(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """This process's environment becomes `env`, as a server started with it would see."""
    for key in set(os.environ) - set(env):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("value", ["bogus://", "memory", "redis://127.0.0.1:notaport/0"])
def test_gunicorn_s_check_refuses_a_rate_limit_store_that_cannot_be_used(monkeypatch, tmp_path, value):
    # gunicorn's master runs check_settings() alone: without it, every worker printed a traceback.
    only(monkeypatch, isolated_env(tmp_path, SECRET_KEY="k", PARLEY_API_RATE_LIMIT_STORAGE=value))
    with pytest.raises(StartupRefused) as refusal:
        check_settings()
    message = refusal.value.message
    assert message.startswith("PARLEY_API_RATE_LIMIT_STORAGE cannot be used") and "\n" not in message


@pytest.mark.parametrize("value", ["memory://", "redis://127.0.0.1:1/0"])
def test_gunicorn_s_check_takes_a_store_without_connecting_to_it(monkeypatch, tmp_path, value):
    # Nothing listens on port 1: a store that does not answer is the API's to live with, not a refusal.
    only(monkeypatch, isolated_env(tmp_path, SECRET_KEY="k", PARLEY_API_RATE_LIMIT_STORAGE=value))
    check_settings()


def test_postgresql_without_its_driver_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails, as when not installed
    message = refused(monkeypatch, tmp_path, "DATABASE_URL", "postgresql+psycopg://parley:hunter2@db/parley")
    assert message == (
        "DATABASE_URL names a database driver that is not installed ('postgresql+psycopg'); use "
        "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME; install psycopg: "
        'make install, or pip install -e ".[postgres]"'
    )


@pytest.mark.parametrize(
    "value",
    [
        '$(python3 -c "import secrets; print(secrets.token_urlsafe(48))")',  # a .env file keeps it so
        "$(openssl rand -base64 48)",
    ],
)
def test_an_embed_secret_copied_as_a_shell_command_is_refused(monkeypatch, tmp_path, value):
    message = refused(monkeypatch, tmp_path, "EMBED_SECRET", value)
    assert "EMBED_SECRET holds a shell command, not a secret" in message
    assert value not in message  # a secret is never repeated


@pytest.mark.parametrize("value", ["crm-launch-secret", "x" * 31])
def test_a_short_embed_secret_is_taken_with_a_warning(monkeypatch, tmp_path, caplog, value):
    """A launch token signed with a short secret can be tried against guesses offline until one
    fits, and then any agent's launch forged: the log says how to make a good one. SPEC sets no
    length, so a CRM already set up with a short one keeps working."""
    monkeypatch.setenv("EMBED_SECRET", value)
    assert Config(str(tmp_path)).EMBED_SECRET == value
    message = caplog.text
    assert f"EMBED_SECRET is {len(value)} characters: use at least 32 random ones" in message
    assert "secrets.token_urlsafe(48)" in message
    assert value not in message


@pytest.mark.parametrize("value", ["", "x" * 32, "crm-launch-secret-" + "0123456789abcdef" * 3])
def test_an_embed_secret_or_none_is_taken(monkeypatch, tmp_path, value):
    monkeypatch.setenv("EMBED_SECRET", value)
    assert Config(str(tmp_path)).EMBED_SECRET == value


# Each on/off variable, the setting it becomes, and its default (unset or empty).
SWITCHES = {
    "PLIVO_ALLOW_V2_SIGNATURES": ("PLIVO_ALLOW_V2_SIGNATURES", False),
    "PARLEY_WEBHOOK_ALLOW_PRIVATE": ("WEBHOOK_ALLOW_PRIVATE", False),
    "PASSWORD_LOGIN": ("PASSWORD_LOGIN", True),
}


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("value", ["1", "true", "True", "YES", "on", " On "])
def test_a_switch_is_on_however_on_is_spelled(monkeypatch, tmp_path, name, value):
    # "true" or "yes" read as off would leave a setting off that its operator meant to turn on.
    monkeypatch.setenv(name, value)
    assert getattr(Config(str(tmp_path)), SWITCHES[name][0]) is True


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("value", ["0", "false", "FALSE", "no", "off", "Off "])
def test_a_switch_is_off_however_off_is_spelled(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    assert getattr(Config(str(tmp_path)), SWITCHES[name][0]) is False


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("value", [None, "", "  "])
def test_a_switch_left_unset_or_empty_keeps_its_default(monkeypatch, tmp_path, name, value):
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    setting, default = SWITCHES[name]
    assert getattr(Config(str(tmp_path)), setting) is default


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("value", ["2", "enabled", "y", "tru", "on please"])
def test_a_switch_that_is_neither_on_nor_off_is_refused(monkeypatch, tmp_path, name, value):
    message = refused(monkeypatch, tmp_path, name, value)
    assert name in message and repr(value) in message
    assert "1/true/yes/on" in message and "0/false/no/off" in message  # what it may be


@pytest.mark.parametrize(
    "value",
    [
        "login.example.edu",
        "http://login.example.edu",  # in clear text, across the network
        "https://",
        "ftp://login.example.edu",
        "https://login.example.edu/?tenant=1",  # the discovery path goes after the issuer
        "https://login.example.edu#top",
        "https://[::1",
    ],
)
def test_an_issuer_that_is_no_https_url_is_refused(monkeypatch, tmp_path, value):
    # The issuer is contacted only when someone signs in: refused then, a typo waited for the
    # first person signing in.
    message = refused(monkeypatch, tmp_path, "OIDC_ISSUER", value)
    assert "OIDC_ISSUER" in message and repr(value) in message and "https://" in message


@pytest.mark.parametrize(
    "value",
    [
        "https://login.example.edu",
        "https://login.microsoftonline.com/tenant/v2.0/",
        "http://127.0.0.1:8080",  # an identity provider on this machine
        "http://localhost:8080/realms/parley",
        "http://[::1]:8080",
    ],
)
def test_an_https_or_local_issuer_is_taken(monkeypatch, tmp_path, value):
    monkeypatch.setenv("OIDC_ISSUER", value)
    assert Config(str(tmp_path)).OIDC_ISSUER == value


def test_an_issuer_that_does_not_answer_lets_the_app_start_and_sign_in_says_so(
    monkeypatch, database_url, tmp_path
):
    # A well-formed issuer may be down for a while: that is for sign-in to say (503), not a reason
    # to refuse starting, and password login keeps working meanwhile.
    monkeypatch.setenv("OIDC_ISSUER", "http://127.0.0.1:1")  # nothing listens there
    config = Config(str(tmp_path))
    app = make_app(
        database_url, tmp_path, OIDC_ISSUER=config.OIDC_ISSUER, OIDC_CLIENT_ID="parley",
        OIDC_TIMEOUT_SECONDS=1,
    )  # fmt: skip
    with serving(app):
        client = app.test_client()
        assert "Sign in with SSO" in client.get("/login").get_data(as_text=True)
        response = client.get("/auth/oidc/login")
        assert response.status_code == 503
        assert "Single sign-on is unavailable" in response.get_data(as_text=True)
