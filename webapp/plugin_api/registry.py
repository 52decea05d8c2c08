"""Loads plugins from entry points. Installed is not enabled: the config names what is enabled."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoints, entry_points
from typing import Any

from webapp.plugin_api.interfaces import Bot, ContactResolver, Plugin, SmsProvider
from webapp.plugin_api.records import ParleyRecords

GROUPS: dict[str, type[Plugin]] = {
    "parley.sms_providers": SmsProvider,
    "parley.contact_resolvers": ContactResolver,
    "parley.bots": Bot,
}


class PluginError(RuntimeError):
    """An enabled plugin is missing or broken; the app refuses to start."""


class PluginRefused(PluginError):
    """An enabled plugin is not installed (or its SDK is not), or refuses its settings: the
    operator fixes the configuration its message names. Other failures are the plugin's bugs."""


@dataclass
class PluginRegistry:
    sms_providers: dict[str, SmsProvider] = field(default_factory=dict)
    contact_resolvers: list[ContactResolver] = field(default_factory=list)
    bots: dict[str, Bot] = field(default_factory=dict)

    def provider(self, name: str) -> SmsProvider:
        try:
            return self.sms_providers[name]
        except KeyError:
            raise PluginError(f"SMS provider {name!r} is not enabled") from None


def installed(group: str, available: EntryPoints | None = None) -> list[str]:
    """The names of a group's installed plugins (among `available`: every entry point by default)."""
    if available is None:
        available = entry_points()
    return sorted({ep.name for ep in available.select(group=group)})


def _load(
    available: EntryPoints,
    group: str,
    name: str,
    config: Mapping[str, Any],
    records: ParleyRecords | None,
) -> Plugin:
    matches = list(available.select(group=group, name=name))
    if not matches:
        have = ", ".join(installed(group, available)) or "none"
        raise PluginRefused(f"enabled plugin {name!r} ({group}) is not installed; installed: {have}")
    try:
        cls = matches[0].load()
    except ImportError as exc:  # the plugin's SDK, or the plugin itself, is not installed
        raise PluginRefused(f"plugin {name!r} ({group}) failed to load: {exc}") from exc
    except Exception as exc:  # anything else is the plugin's own bug; say whose
        raise PluginError(f"plugin {name!r} ({group}) failed to load: {exc}") from exc
    base = GROUPS[group]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"plugin {name!r} ({group}) is not a {base.__name__}")
    try:
        # Parley's settings first, then the environment: a plugin's own settings, which Parley's
        # Config does not name, come from environment variables (or `.env`) of the same name.
        plugin = cls(ChainMap(config, os.environ))
    except ValueError as exc:  # how a plugin says its settings are unusable
        raise PluginRefused(f"plugin {name!r} ({group}) failed to start: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"plugin {name!r} ({group}) failed to start: {exc}") from exc
    plugin.name = name
    if records is not None:
        plugin.records = records
    return plugin


def load_plugins(config: Mapping[str, Any], records: ParleyRecords | None = None) -> PluginRegistry:
    """The enabled plugins, each handed `records` (the app passes the core's implementation)."""
    registry = PluginRegistry()
    available = entry_points()  # read once: each read goes through every installed distribution
    for name in config.get("SMS_PROVIDERS", []):
        registry.sms_providers[name] = _load(available, "parley.sms_providers", name, config, records)  # type: ignore[assignment]
    for name in config.get("CONTACT_RESOLVERS", []):
        registry.contact_resolvers.append(_load(available, "parley.contact_resolvers", name, config, records))  # type: ignore[arg-type]
    for name in config.get("BOTS", []):
        registry.bots[name] = _load(available, "parley.bots", name, config, records)  # type: ignore[assignment]
    return registry
