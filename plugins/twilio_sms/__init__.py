"""The Twilio SMS provider plugin (entry point `twilio` in the `parley.sms_providers` group).

The only part of Parley that imports the `twilio` SDK.
"""

from plugins.twilio_sms.provider import TwilioSmsProvider

__all__ = ["TwilioSmsProvider"]
