"""The provider conformance kit: pytest checks of what Parley relies on in an SMS provider plugin.

Import it in a plugin's own tests (it needs pytest, which Parley's `test` extra installs):

    from webapp.plugin_api.testing import ProviderConformance, SentMessage

    class TestMyProvider(ProviderConformance):
        provider_name = "mysms"
        ...

docs/plugins.md explains the hooks and shows a complete provider package that passes it.
"""

from webapp.plugin_api.testing.conformance import ProviderConformance, SentMessage
from webapp.plugin_api.testing.parley import Parley

__all__ = ["Parley", "ProviderConformance", "SentMessage"]
