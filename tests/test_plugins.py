"""Plugin discovery: entry points, the enabled lists, fail-fast start-up, `flask plugins`."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import make_app, serving
from webapp.config import Config
from webapp.extensions import db
from webapp.models import Message
from webapp.plugin_api.registry import PluginError


def install_distribution(tmp_path: Path, monkeypatch, name: str, entry_points: str, modules: dict):
    """A third-party package on sys.path with its own entry points, as pip would install it."""
    site = tmp_path / "site"
    dist_info = site / f"{name.replace('-', '_')}-0.1.dist-info"  # as pip names it
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(site))


def test_plugins_command_lists_installed_and_enabled(app):
    result = app.test_cli_runner().invoke(args=["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "parley.sms_providers:"
    assert "  console  [enabled]" in lines
    assert "  plivo" in lines  # installed, not enabled by default
    assert "  twilio" in lines
    assert "  campaign  [enabled]" in lines
    assert "parley.bots:" in lines


def test_plugins_command_shows_plivo_enabled(database_url, tmp_path):
    app = make_app(
        database_url,
        tmp_path,
        SMS_PROVIDERS=["console", "plivo"],
        PLIVO_AUTH_ID="MA" + "X" * 18,
        PLIVO_AUTH_TOKEN="token",
    )
    with app.app_context():  # `flask` pushes one; the test runner does not
        result = app.test_cli_runner().invoke(args=["plugins"])
    assert "  plivo  [enabled]" in result.output.splitlines()
    assert set(app.extensions["parley"].sms_providers) == {"console", "plivo"}


PLIVO_CREDENTIALS = {"PLIVO_AUTH_ID": "MA" + "X" * 18, "PLIVO_AUTH_TOKEN": "token"}


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, ["console"]),
        (PLIVO_CREDENTIALS, ["console", "plivo"]),
        (PLIVO_CREDENTIALS | {"PARLEY_SMS_PROVIDERS": "console"}, ["console"]),
        ({"PARLEY_SMS_PROVIDERS": "console twilio"}, ["console", "twilio"]),
    ],
)
def test_plivo_is_enabled_by_its_credentials_unless_the_list_is_given(monkeypatch, tmp_path, env, enabled):
    for name in ("PARLEY_SMS_PROVIDERS", "PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Config(str(tmp_path)).SMS_PROVIDERS == enabled


def test_half_of_plivos_credentials_stops_parley_rather_than_turning_plivo_off(monkeypatch, tmp_path):
    for name in ("PARLEY_SMS_PROVIDERS", "PLIVO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLIVO_AUTH_ID", PLIVO_CREDENTIALS["PLIVO_AUTH_ID"])
    with pytest.raises(ValueError, match="PLIVO_AUTH_ID is set but PLIVO_AUTH_TOKEN is not"):
        Config(str(tmp_path))


def test_with_plivo_credentials_set_plivo_numbers_and_webhooks_work(monkeypatch, database_url, tmp_path):
    """What the README's Plivo section promises: set the credentials, add a Plivo number."""
    monkeypatch.delenv("PARLEY_SMS_PROVIDERS", raising=False)
    for name, value in PLIVO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    providers = Config(str(tmp_path / "env")).SMS_PROVIDERS
    with serving(make_app(database_url, tmp_path, SMS_PROVIDERS=providers, **PLIVO_CREDENTIALS)) as app:
        cli = app.test_cli_runner()
        assert cli.invoke(args=["offices", "create", "Admissions"]).exit_code == 0
        added = cli.invoke(
            args=["numbers", "add", "+12025550177", "--office", "Admissions", "--provider", "plivo",
                  "--backing", "agent"]
        )
        assert added.exit_code == 0, added.output
        unsigned = app.test_client().post(
            "/webhooks/plivo/inbound", data={"From": "12025550100", "To": "12025550177", "Text": "hi"}
        )
        assert unsigned.status_code == 403  # the provider is there, and checks its signature


def test_enabled_plugin_that_is_not_installed_stops_startup(database_url, tmp_path):
    with pytest.raises(PluginError, match=r"'vonage' \(parley.sms_providers\) is not installed"):
        make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "vonage"])
    with pytest.raises(PluginError, match="'crm'.*not installed"):
        make_app(database_url, tmp_path, CONTACT_RESOLVERS=["campaign", "crm"])


def test_plugin_that_fails_to_import_stops_startup(database_url, tmp_path, monkeypatch):
    install_distribution(
        tmp_path,
        monkeypatch,
        "parley-broken-sms",
        """
        [parley.sms_providers]
        brokensms = parley_broken_sms_mod:Provider
        """,
        {"parley_broken_sms_mod": "raise ImportError('the vendor SDK is not installed')\n"},
    )
    with pytest.raises(PluginError) as error:
        make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "brokensms"])
    assert "'brokensms'" in str(error.value)
    assert "failed to load: the vendor SDK is not installed" in str(error.value)


def test_plugin_that_fails_to_start_stops_startup(database_url, tmp_path, monkeypatch):
    install_distribution(
        tmp_path,
        monkeypatch,
        "parley-picky-sms",
        """
        [parley.sms_providers]
        pickysms = parley_picky_sms_mod:Provider
        notaprovider = parley_picky_sms_mod:NotAProvider
        """,
        {
            "parley_picky_sms_mod": """
            from webapp.plugin_api import SmsProvider

            class Provider(SmsProvider):
                def __init__(self, config):
                    raise ValueError("PICKY_API_KEY is not set")

                def send(self, message):
                    raise AssertionError

            class NotAProvider:
                pass
            """
        },
    )
    with pytest.raises(PluginError, match="'pickysms'.*failed to start: PICKY_API_KEY is not set"):
        make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "pickysms"])
    with pytest.raises(PluginError, match="'notaprovider'.*is not a SmsProvider"):
        make_app(database_url, tmp_path, SMS_PROVIDERS=["notaprovider"])

    # Installed but not enabled: the app starts, and `plugins` lists it as installed only.
    app = make_app(database_url, tmp_path)
    with app.app_context():
        output = app.test_cli_runner().invoke(args=["plugins"]).output.splitlines()
    assert "  pickysms" in output
    assert "  console  [enabled]" in output


@pytest.mark.parametrize(
    ("auth_id", "auth_token", "message"),
    [
        ("", "", "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN are not set"),
        ("MA" + "X" * 18, "", "PLIVO_AUTH_TOKEN is not set"),
        ("not-an-auth-id", "s3cret-token", "PLIVO_AUTH_ID must be MA or SA followed by 18"),
    ],
)
def test_plivo_enabled_without_usable_credentials_stops_startup(
    database_url, tmp_path, auth_id, auth_token, message
):
    with pytest.raises(PluginError) as error:
        make_app(
            database_url,
            tmp_path,
            SMS_PROVIDERS=["console", "plivo"],
            PLIVO_AUTH_ID=auth_id,
            PLIVO_AUTH_TOKEN=auth_token,
        )
    assert "'plivo'" in str(error.value)
    assert message in str(error.value)
    assert "s3cret-token" not in str(error.value)  # secrets never end up in messages or logs


@pytest.mark.parametrize("provider", ["plivo", "twilio"])
def test_provider_numbers_need_their_provider_enabled(app, setup, provider):
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["numbers", "add", "+12025550177", "--office", "Admissions",
              "--provider", provider, "--backing", "agent"]
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"Provider '{provider}' is not enabled (enabled: console)" in result.output


@pytest.mark.parametrize("provider", ["plivo", "twilio"])
def test_a_provider_not_enabled_refuses_its_webhooks_and_one_not_installed_is_not_found(
    client, setup, provider
):
    """Without its credentials a provider checks no signature, so its webhooks are refused (403,
    nothing stored), as an unsigned request is where it is enabled; an unknown name is a 404."""
    before = db.session.scalar(select(func.count()).select_from(Message))
    for kind in ("inbound", "status"):
        response = client.post(f"/webhooks/{provider}/{kind}", data={"From": "12025550143", "Text": "hi"})
        assert response.status_code == 403
        assert f"The {provider} provider is not enabled here" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == before
    assert client.post("/webhooks/vonage/inbound", data={"Text": "hi"}).status_code == 404


def test_the_example_plugin_is_installed_from_its_own_package(app):
    """`make install` installs examples/parley-example-sms beside Parley, as a third party's plugin
    would be installed: found through its own distribution's entry point, installed, not enabled."""
    found = {ep.name: ep for ep in entry_points(group="parley.sms_providers")}
    assert "example" in found, "examples/parley-example-sms is not installed: run make install"
    assert found["example"].dist.name == "parley-example-sms"
    with app.app_context():
        lines = app.test_cli_runner().invoke(args=["plugins"]).output.splitlines()
    assert "  example" in lines


def test_a_plugins_own_settings_come_from_the_environment(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLE_SMS_API_KEY", "key-from-the-environment")
    monkeypatch.setenv("EXAMPLE_SMS_WEBHOOK_SECRET", "secret-from-the-environment")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://not-the-configured-one.example")
    app = make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "example"])
    provider = app.extensions["parley"].provider("example")
    assert provider.api_key == "key-from-the-environment"
    # A setting Parley defines comes from Parley's configuration, not around it.
    assert provider.config["PUBLIC_BASE_URL"] == app.config["PUBLIC_BASE_URL"] == "http://parley.test"

    monkeypatch.delenv("EXAMPLE_SMS_WEBHOOK_SECRET")
    with pytest.raises(PluginError, match="'example'.*EXAMPLE_SMS_WEBHOOK_SECRET is not set"):
        make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "example"])
