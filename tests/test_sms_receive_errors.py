"""`flask sms receive` names the option a bad phone was given in, and ends its errors as the other
commands do."""

from __future__ import annotations

import pytest


def receive(app, from_phone: str, to: str):
    args = ["sms", "receive", "--from", from_phone, "--to", to, "--text", "Hi"]
    return app.test_cli_runner().invoke(args=args)


@pytest.mark.parametrize(
    ("from_phone", "to", "error"),
    [
        ("abc", "+12025550100", "Error: --from: Enter a 10-digit US phone number, like (202) 555-0143.\n"),
        ("2025550143", "abc", "Error: --to: Enter a 10-digit US phone number, like (202) 555-0143.\n"),
        ("2025550143", "+abc", "Error: --to: '+abc' is not a phone number.\n"),
        ("2025550143", "2025550999", "Error: +12025550999 is not an active reusable number.\n"),
    ],
)
def test_a_bad_phone_is_named_by_its_option(app, setup, from_phone, to, error):
    result = receive(app, from_phone, to)
    assert (result.exit_code, result.output) == (1, error)
