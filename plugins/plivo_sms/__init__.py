"""The Plivo SMS provider plugin (entry point `plivo` in the `parley.sms_providers` group).

The only part of Parley that imports the `plivo` SDK.
"""

from plugins.plivo_sms.provider import PlivoSmsProvider

__all__ = ["PlivoSmsProvider"]
