"""The conformance checks every SMS provider plugin must pass: what Parley relies on.

A plugin's tests subclass `ProviderConformance`, name the plugin's entry point and supply a fake of
the provider's API plus a few hooks that speak the provider's wire format (how it signs a
webhook, what its inbound and status webhooks carry). pytest then runs every check below against
a real Parley with that plugin enabled. See docs/plugins.md for a worked example.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from webapp.plugin_api.interfaces import MediaUnavailable
from webapp.plugin_api.registry import PluginError
from webapp.plugin_api.testing.parley import Parley, build_app, migrate, running
from webapp.plugin_api.types import OutboundMessage, WebhookRequest

PICTURES = ("https://parley.example.org/media/3f9c2a.jpg", "https://parley.example.org/media/8d41be.png")


@dataclass(frozen=True)
class SentMessage:
    """One send as the provider's API received it (what the fake recorded), in plain terms."""

    from_phone: str  # E.164
    to_phone: str  # E.164
    text: str
    status_callback_url: str | None = None  # where the provider will report on it
    provider_message_id: str | None = None  # the provider's id for it, as its answer gave it
    media_urls: tuple[str, ...] = ()


class ProviderConformance:
    """Subclass in a test module (named `Test…`) and fill in the hooks; each `test_…` is a check.

    A check that does not apply to a provider (pictures for one without MMS, webhooks for one
    without them, a failure its fake cannot stage) is skipped, saying why.
    """

    #: The plugin's entry-point name in the `parley.sms_providers` group.
    provider_name: ClassVar[str] = ""
    #: False for a provider that receives nothing (it has no inbound or status webhooks).
    webhooks: ClassVar[bool] = True
    #: Settings without which an enabled provider must stop Parley's start-up, naming them.
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: The error code the provider reports for a recipient who opted out with it, if it has one.
    opted_out_error_code: ClassVar[str | None] = None

    # What the plugin's tests supply -------------------------------------------------------------

    @pytest.fixture
    def provider_api(self) -> Iterator[Any]:
        """The fake of the provider's API, running (e.g. an HTTP server on 127.0.0.1)."""
        raise NotImplementedError("override the provider_api fixture: a running fake of the API")

    def provider_settings(self, provider_api: Any) -> dict[str, Any]:
        """The settings that enable the provider against the fake (credentials, its base URL)."""
        return {}

    def sent_messages(self, provider_api: Any) -> list[SentMessage]:
        """Every send the fake has received, oldest first."""
        raise NotImplementedError

    def fail_next_send(self, provider_api: Any, kind: str) -> None:
        """Make the fake refuse the next send: "transient" (e.g. HTTP 503), "permanent" (e.g. an
        invalid number) or "opted_out" (the provider's refusal for a recipient who opted out).
        Raise NotImplementedError for a kind the provider does not have."""
        raise NotImplementedError

    def sign(self, url: str, form: Mapping[str, str], *, forged: bool = False) -> dict[str, str]:
        """The headers the provider would send with this form posted to this public URL; with
        `forged`, a signature made with some other secret. Each call is a new delivery (a new
        nonce, for providers that sign one)."""
        raise NotImplementedError

    def inbound_form(
        self,
        *,
        from_phone: str,
        to_phone: str,
        text: str,
        message_id: str,
        media_urls: tuple[str, ...] = (),
        intent: str | None = None,
    ) -> dict[str, str]:
        """The provider's inbound webhook for one text. `intent` ("optout", "optin", "help") is
        the provider's own reading of a keyword, for providers whose webhooks carry one."""
        raise NotImplementedError

    def status_form(self, sent: SentMessage, status: str, error_code: str | None = None) -> dict[str, str]:
        """The provider's delivery report saying `status` (Parley's words: queued, sent,
        delivered, undelivered, failed) about a message it took."""
        raise NotImplementedError

    # The Parley under test ----------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def parley_template_database(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """An SQLite database built by Parley's migrations once per test class."""
        folder = tmp_path_factory.mktemp("parley")
        path = folder / "template.db"
        migrate(f"sqlite:///{path}", folder / "instance")
        return path

    @pytest.fixture
    def parley_database_url(self, parley_template_database: Path, tmp_path: Path) -> str:
        """A fresh database for each check: a copy of the template. Override to use another."""
        path = tmp_path / "parley.db"
        path.write_bytes(parley_template_database.read_bytes())
        return f"sqlite:///{path}"

    @pytest.fixture
    def parley(self, parley_database_url: str, provider_api: Any, tmp_path: Path) -> Iterator[Parley]:
        settings = {"SMS_PROVIDERS": [self.provider_name], **self.provider_settings(provider_api)}
        app = build_app(parley_database_url, tmp_path / "instance", settings)
        with running(app, self.provider_name) as parley:
            yield parley

    # Helpers --------------------------------------------------------------------------------------

    def _last_sent(self, provider_api: Any) -> SentMessage:
        sent = self.sent_messages(provider_api)
        assert sent, "the provider's API received nothing"
        return sent[-1]

    def _stage_failure(self, provider_api: Any, kind: str) -> None:
        try:
            self.fail_next_send(provider_api, kind)
        except NotImplementedError:
            pytest.skip(f"the fake of {self.provider_name}'s API cannot stage this failure: {kind}")

    def _needs_webhooks(self) -> None:
        if not self.webhooks:
            pytest.skip(f"{self.provider_name} has no webhooks")

    def _inbound(self, parley: Parley, text: str, message_id: str | None = None, **extra: Any) -> dict:
        return self.inbound_form(
            from_phone=parley.contact,
            to_phone=parley.number,
            text=text,
            message_id=message_id or _new_id(),
            **extra,
        )

    def _post_signed(self, parley: Parley, url: str, form: Mapping[str, str]):
        return parley.post(url, form, self.sign(url, form))

    def _receive(self, parley: Parley, text: str, message_id: str | None = None, **extra: Any):
        """A text from the contact, signed and posted as the provider would."""
        form = self._inbound(parley, text, message_id, **extra)
        return self._post_signed(parley, parley.inbound_url(), form)

    def _report(self, parley: Parley, message: dict, sent: SentMessage, status: str, code: str | None = None):
        url = sent.status_callback_url or parley.status_url(message["id"])
        return self._post_signed(parley, url, self.status_form(sent, status, code))

    # Sending ---------------------------------------------------------------------------------------

    def test_a_send_reaches_the_api_with_sender_recipient_text_and_callback(self, parley, provider_api):
        message = parley.send("Your application is complete. Reply here with any questions.")

        assert message["status"] == "sent", f"the send failed: {message['error_reason']}"
        sent = self._last_sent(provider_api)
        assert (sent.from_phone, sent.to_phone) == (parley.number, parley.contact)
        assert sent.text == "Your application is complete. Reply here with any questions."
        if self.webhooks:
            # Parley's callback names its own message: a report that overtakes the send's answer
            # still finds it. It must reach the provider unchanged.
            assert sent.status_callback_url == parley.status_url(message["id"])

    def test_pictures_reach_the_api(self, parley, provider_api):
        provider = parley.provider
        if not provider.supports_media:
            pytest.skip(f"{self.provider_name} does not send pictures (supports_media is False)")
        outbound = OutboundMessage(
            message_id=1, from_phone=parley.number, to_phone=parley.contact, body="The campus map",
            status_callback_url=parley.status_url(1), media_urls=PICTURES,
        )  # fmt: skip
        result = provider.send(outbound)

        assert result.status == "sent", result.error_reason
        sent = self._last_sent(provider_api)
        assert (sent.text, sent.media_urls) == ("The campus map", PICTURES)

    def test_permanent_send_errors_fail_with_a_readable_reason(self, parley, provider_api):
        self._stage_failure(provider_api, "permanent")
        message = parley.send("This one is refused")

        assert message["status"] == "failed"  # not retried: it never would pass
        _assert_readable(message["error_reason"])

    def test_transient_send_errors_are_retried(self, parley, provider_api):
        self._stage_failure(provider_api, "transient")
        message = parley.send("This one waits for a retry")

        assert message["status"] == "queued", f"not queued for a retry: {message['error_reason']}"
        _assert_readable(message["error_reason"])

        # The plugin's own verdict, on both kinds.
        outbound = OutboundMessage(2, parley.number, parley.contact, "Again")
        self._stage_failure(provider_api, "transient")
        transient = parley.provider.send(outbound)
        self._stage_failure(provider_api, "permanent")
        permanent = parley.provider.send(outbound)
        assert (transient.status, transient.transient) == ("failed", True)
        assert (permanent.status, permanent.transient) == ("failed", False)
        _assert_readable(transient.error_reason)
        _assert_readable(permanent.error_reason)

    def test_a_refusal_for_an_opted_out_recipient_opts_the_phone_out(self, parley, provider_api):
        self._stage_failure(provider_api, "opted_out")
        message = parley.send("Are you still interested?")

        assert message["status"] == "failed"
        _assert_readable(message["error_reason"])
        assert parley.opted_out(), "the provider's opt-out refusal did not opt the phone out"

    # Webhooks: signatures ---------------------------------------------------------------------------

    def test_a_signed_inbound_text_is_accepted_once(self, parley, provider_api):
        self._needs_webhooks()
        form = self._inbound(parley, "Is my application complete?")
        headers = self.sign(parley.inbound_url(), form)

        first = parley.post(parley.inbound_url(), form, headers)
        assert first.status_code == 200, first.get_data(as_text=True)
        [message] = parley.inbound_messages()
        assert message["text"] == "Is my application complete?"

        replayed = parley.post(parley.inbound_url(), form, headers)
        if parley.provider.replay_key(WebhookRequest("POST", parley.inbound_url(), headers, form)):
            assert replayed.status_code == 403, "the same signed request was accepted twice"
        else:
            # No nonce: the provider's own retry is this very request, answered as a duplicate.
            assert replayed.status_code == 200, replayed.get_data(as_text=True)
        assert len(parley.inbound_messages()) == 1

    def test_forged_tampered_and_unsigned_webhooks_are_refused(self, parley, provider_api):
        self._needs_webhooks()
        url = parley.inbound_url()
        message_id = _new_id()
        form = self._inbound(parley, "Hi", message_id)
        tampered = self._inbound(parley, "STOP", message_id)  # the same delivery, another text
        signed = self.sign(url, form)
        internal = url.replace(url.split("/webhooks/")[0], "http://localhost")
        cases = {
            "unsigned": (form, {}),
            "signed with another secret": (form, self.sign(url, form, forged=True)),
            "signed for another URL": (form, self.sign(internal, form)),
            "tampered": (tampered, signed),
            "garbled": (form, {name: _garble(value) for name, value in signed.items()}),
        }
        for case, (posted, headers) in cases.items():
            answer = parley.post(url, posted, headers)
            assert answer.status_code == 403, f"{case}: answered {answer.status_code}, not 403"
        assert parley.inbound_messages() == []
        assert not parley.opted_out()

        message = parley.send("Hello")
        report = self.status_form(self._last_sent(provider_api), "failed", self.opted_out_error_code)
        callback = parley.status_url(message["id"])
        assert parley.post(callback, report, {}).status_code == 403
        assert parley.post(callback, report, self.sign(callback, report, forged=True)).status_code == 403
        assert parley.message(message["id"])["status"] == "sent"
        assert not parley.opted_out()

    def test_malformed_webhooks_get_a_precise_4xx(self, parley, provider_api):
        self._needs_webhooks()
        message = parley.send("Hello")
        no_phone = self.inbound_form(
            from_phone="not-a-phone", to_phone=parley.number, text="Hi", message_id=_new_id()
        )
        attempts = {
            "an empty inbound webhook": (parley.inbound_url(), {}),
            "an inbound text from no phone": (parley.inbound_url(), no_phone),
            "an empty status report": (parley.status_url(message["id"]), {}),
        }
        for case, (url, form) in attempts.items():
            answer = self._post_signed(parley, url, form)
            assert 400 <= answer.status_code < 500 and answer.status_code != 403, (
                f"{case}: answered {answer.status_code}, not a 4xx saying what is wrong"
            )
            assert answer.get_data(as_text=True).strip(), f"{case}: a 4xx without a reason"
        assert parley.inbound_messages() == []
        assert parley.message(message["id"])["status"] == "sent"

    def test_a_provider_without_webhooks_refuses_them(self, parley, provider_api):
        if self.webhooks:
            pytest.skip(f"{self.provider_name} has webhooks")
        form = {"From": parley.contact, "To": parley.number, "Text": "Hi", "Body": "Hi"}
        assert parley.post(parley.inbound_url(), form, {}).status_code == 403
        assert parley.inbound_messages() == []

    # Webhooks: idempotency -----------------------------------------------------------------------

    def test_a_repeated_delivery_is_stored_once(self, parley, provider_api):
        self._needs_webhooks()
        message_id = _new_id()
        for attempt in range(3):  # each delivery signed anew, as the provider's retries are
            answer = self._receive(parley, "Once", message_id)
            # A retry is answered as a duplicate, even signed identically (a signature without a
            # nonce): a provider retries what it was refused, and it was stored already.
            assert answer.status_code == 200, f"delivery {attempt + 1}: {answer.status_code}"
        assert [m["text"] for m in parley.inbound_messages()] == ["Once"]

    def test_concurrent_duplicates_are_stored_once(self, parley, provider_api):
        self._needs_webhooks()
        message_id, count = _new_id(), 12
        barrier = threading.Barrier(count)
        answers: list[int] = []

        def deliver() -> None:
            form = self._inbound(parley, "Sent once, delivered many times", message_id)
            headers = self.sign(parley.inbound_url(), form)
            barrier.wait()
            answers.append(parley.post(parley.inbound_url(), form, headers).status_code)

        threads = [threading.Thread(target=deliver) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert answers == [200] * count, answers
        assert len(parley.inbound_messages()) == 1
        assert parley.conversation_count() == 1

    def test_inbound_pictures_are_kept(self, parley, provider_api):
        self._needs_webhooks()
        form = self._inbound(parley, "My transcript", media_urls=PICTURES)
        answer = parley.post(parley.inbound_url(), form, self.sign(parley.inbound_url(), form))

        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert [m["text"] for m in parley.inbound_messages()] == ["My transcript"]
        request = WebhookRequest("POST", parley.inbound_url(), {}, form)
        assert parley.provider.parse_inbound(request).media_urls == PICTURES

    def test_media_links_of_other_hosts_are_never_fetched(self, parley):
        """`fetch_media` refuses a link that is not the provider's own before any request (a
        webhook's link elsewhere never gets the account's credentials): a permanent refusal."""
        for link in ("https://example.org/picture.png", "https://parley.example.org/media/3f9c2a.jpg"):
            with pytest.raises(MediaUnavailable) as refused:
                parley.provider.fetch_media(link, 1024)
            assert not refused.value.transient, f"{link} was fetched: {refused.value}"

    # Webhooks: statuses ------------------------------------------------------------------------------

    def test_statuses_move_forward_never_back(self, parley, provider_api):
        self._needs_webhooks()
        message = parley.send("How far did this get?")
        sent = self._last_sent(provider_api)
        for status, shown in [("queued", "sent"), ("delivered", "delivered"), ("sent", "delivered"),
                              ("failed", "delivered"), ("undelivered", "delivered")]:  # fmt: skip
            answer = self._report(parley, message, sent, status)
            assert answer.status_code in (200, 403), f"{status}: {answer.get_data(as_text=True)}"
            assert parley.message(message["id"])["status"] == shown, f"after a {status} report"

        failing = parley.send("And this one?")
        sent = self._last_sent(provider_api)
        assert self._report(parley, failing, sent, "failed").status_code == 200
        failed = parley.message(failing["id"])
        assert failed["status"] == "failed"
        _assert_readable(failed["error_reason"])
        self._report(parley, failing, sent, "delivered")
        assert parley.message(failing["id"])["status"] == "failed"

    def test_a_report_without_parleys_id_finds_the_message_by_the_providers(self, parley, provider_api):
        self._needs_webhooks()
        message = parley.send("Found by the provider's id")
        sent = self._last_sent(provider_api)
        bare_callback = parley.status_url(message["id"]).split("?")[0]
        answer = self._post_signed(parley, bare_callback, self.status_form(sent, "delivered"))

        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert parley.message(message["id"])["status"] == "delivered"

    # Opt-outs ----------------------------------------------------------------------------------------

    def test_the_providers_opt_out_report_opts_the_phone_out(self, parley, provider_api):
        self._needs_webhooks()
        code = self.opted_out_error_code
        if code is None:
            pytest.skip(f"{self.provider_name} reports no opt-out error code")
        message = parley.send("Still there?")
        assert self._report(parley, message, self._last_sent(provider_api), "failed", code).status_code == 200

        assert parley.opted_out(), f"a failed report with error {code} did not opt the phone out"
        assert parley.message(message["id"])["status"] == "failed"
        _assert_readable(parley.message(message["id"])["error_reason"])
        _assert_readable(parley.provider.describe_error(code))
        refused = parley.api("POST", "/messages", {"from": parley.number, "to": parley.contact, "text": "Hi"})
        assert refused.status_code == 422, "a text to an opted-out phone was accepted"

    def test_stop_start_and_help_follow_the_providers_own_keyword_handling(self, parley, provider_api):
        self._needs_webhooks()
        before = len(self.sent_messages(provider_api))
        assert self._receive(parley, "STOP", intent="optout").status_code == 200
        assert parley.opted_out(), "STOP did not opt the phone out"
        assert self._receive(parley, "START", intent="optin").status_code == 200
        assert not parley.opted_out(), "START did not opt the phone back in"
        assert len(self.sent_messages(provider_api)) == before, "Parley confirmed a keyword itself"

        assert self._receive(parley, "HELP", intent="help").status_code == 200
        answers = self.sent_messages(provider_api)[before:]
        if parley.provider.handles_keywords:
            assert answers == [], "the provider answers HELP itself; Parley must not answer too"
        else:
            [answer] = answers  # Parley's own HELP text, through this provider
            assert (answer.from_phone, answer.to_phone) == (parley.number, parley.contact)

    # Settings ------------------------------------------------------------------------------------

    def test_missing_settings_stop_start_up_naming_them(self, parley_database_url, provider_api, tmp_path):
        if not self.required_settings:
            pytest.skip(f"{self.provider_name} needs no settings")
        settings = self.provider_settings(provider_api)
        secrets = [str(v) for v in settings.values() if isinstance(v, str) and len(v) >= 8]
        for name in self.required_settings:
            with pytest.raises(PluginError) as refused:
                build_app(
                    parley_database_url, tmp_path / "instance",
                    {**settings, name: "", "SMS_PROVIDERS": [self.provider_name]},
                )  # fmt: skip
            assert name in str(refused.value), f"start-up without {name} did not name it"
            assert not any(secret in str(refused.value) for secret in secrets if "://" not in secret)


def _assert_readable(reason: str | None) -> None:
    """A reason an agent can act on: words, not a bare code, a repr or a traceback."""
    assert isinstance(reason, str) and reason.strip(), "no reason given"
    assert len(reason.split()) >= 3, f"not a readable reason: {reason!r}"
    assert "Traceback" not in reason and " object at 0x" not in reason, reason
    assert len(reason) <= 300, "too long to show next to a message"


def _garble(value: str) -> str:
    """The header value with its last characters changed (still printable ASCII)."""
    return (value[:-2] + ("xy" if not value.endswith("xy") else "yx")) if len(value) > 2 else "xyz"


def _new_id() -> str:
    return f"conf-{uuid.uuid4().hex}"
