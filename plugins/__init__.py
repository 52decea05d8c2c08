"""Parley's built-in plugins. Each is registered through an entry point in pyproject.toml."""
