"""A configuration Parley refuses at start reaches the operator as one line naming the variable,
on stderr, with a non-zero exit status: from every flask command and from gunicorn, which says it
once instead of a traceback per worker. A plugin's own bug still shows its traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.processes import BIN, ROOT, isolated_env
from tests.test_plugins import install_distribution
from webapp import StartupRefused, create_app
from webapp.plugin_api.registry import PluginError

REFUSED = [
    pytest.param(
        {"PARLEY_SMS_PROVIDERS": "console twilio"},
        "Error: plugin 'twilio' (parley.sms_providers) failed to start: Twilio is enabled but "
        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set",
        id="twilio without credentials",
    ),
    pytest.param(
        {"PARLEY_SMS_PROVIDERS": "console plivo", "PLIVO_AUTH_ID": "not-an-id", "PLIVO_AUTH_TOKEN": "t"},
        "Error: plugin 'plivo' (parley.sms_providers) failed to start: PLIVO_AUTH_ID must be MA or "
        "SA followed by 18 capital letters or digits",
        id="malformed plivo auth id",
    ),
    pytest.param(
        {"PLIVO_TIMEOUT_SECONDS": "soon"},
        "Error: PLIVO_TIMEOUT_SECONDS must be a number of seconds, above 0 and at most 31622400 "
        "(a year), not 'soon'",
        id="malformed duration",
    ),
    pytest.param(
        {"DATABASE_URL": "postgres://parley:hunter2@db.example.edu/parley"},
        "Error: DATABASE_URL names a database Parley does not know ('postgres'); use "
        "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME",
        id="unknown database",
    ),
    pytest.param(
        {"DATABASE_URL": "mysql://parley:hunter2@db.example.edu/parley"},
        "Error: DATABASE_URL names a database driver that is not installed ('mysql'); use "
        "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME",
        id="a database whose driver is not installed",
    ),
    pytest.param(
        {"DATABASE_URL": "parley.db"},
        "Error: DATABASE_URL must be a database URL such as sqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME",
        id="not a database URL",
    ),
    pytest.param(
        {"EMBED_ALLOWED_ORIGINS": "crm.example.edu"},
        "Error: EMBED_ALLOWED_ORIGINS: 'crm.example.edu' is not an origin like https://crm.example.edu",
        id="not an origin",
    ),
    pytest.param(
        {"QUEUE_URL": "amqp://parley:hunter2@broker"},
        "Error: QUEUE_URL must start with sqlite:/// or redis://, not amqp://…",
        id="unknown queue",
    ),
    pytest.param(
        {"PARLEY_API_RATE_LIMIT_STORAGE": "amqp://parley:hunter2@broker"},
        "Error: PARLEY_API_RATE_LIMIT_STORAGE cannot be used: 'amqp' is not a store Parley knows "
        "(memory://, redis://), or its client library is not installed",
        id="unknown rate-limit store",
    ),
]


def _env(tmp_path: Path, settings: dict[str, str]) -> dict[str, str]:
    return isolated_env(tmp_path, SECRET_KEY="startup-refusal-test", **settings)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["offices", "create", "Admissions"], ["worker"]])
@pytest.mark.parametrize(("settings", "message"), REFUSED)
def test_a_refused_setting_is_one_line_on_stderr(tmp_path, command, settings, message):
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", *command],
        cwd=ROOT, env=_env(tmp_path, settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    assert "hunter2" not in result.stderr  # a database or queue URL's password is never repeated


@pytest.mark.parametrize(("settings", "message"), REFUSED[:2])
def test_gunicorn_says_a_refused_setting_once_and_starts_no_worker(tmp_path, settings, message):
    result = subprocess.run(
        [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "2", "webapp:create_app()"],
        cwd=ROOT, env=_env(tmp_path, settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    reason = message.removeprefix("Error: ")
    assert result.stderr.count(reason) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stderr


def test_a_plugin_that_crashes_keeps_its_traceback(tmp_path, monkeypatch):
    """A plugin's bug is not a setting to fix: it stays a PluginError, whose traceback says where."""
    install_distribution(
        tmp_path,
        monkeypatch,
        "parley-buggy-sms",
        """
        [parley.sms_providers]
        buggysms = parley_buggy_sms_mod:Provider
        """,
        {
            "parley_buggy_sms_mod": """
            from webapp.plugin_api import SmsProvider

            class Provider(SmsProvider):  # a bug: it forgot SmsProvider's send()
                pass
            """
        },
    )
    env = _env(tmp_path, {"PARLEY_SMS_PROVIDERS": "console buggysms"})
    for key in set(os.environ) - set(env):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(PluginError) as error:
        create_app()
    assert not isinstance(error.value, StartupRefused)
    assert isinstance(error.value.__cause__, TypeError)
