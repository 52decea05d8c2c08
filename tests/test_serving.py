"""How gunicorn serves Parley: the settings in gunicorn.conf.py apply wherever it is started."""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess

from tests.processes import BIN, ROOT


def gunicorn_settings(**env: str) -> dict[str, str]:
    """The settings gunicorn would serve Parley with, started in the project folder."""
    environment = {name: value for name, value in os.environ.items() if name != "WEB_CONCURRENCY"}
    printed = subprocess.run(
        [str(BIN / "gunicorn"), "--print-config", "webapp:create_app()"],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**environment, **env},
    ).stdout
    settings = {}
    for line in printed.splitlines():
        name, _, value = line.partition("=")
        settings[name.strip()] = value.strip()
    return settings


def test_gunicorn_reads_parleys_settings():
    settings = gunicorn_settings()
    assert settings["config"] == "./gunicorn.conf.py"
    assert settings["post_worker_init"] == "<post_worker_init()>"
    # Not gunicorn's one worker: two per core and one more, as its documentation suggests.
    assert settings["workers"] == str(2 * os.cpu_count() + 1)
    assert gunicorn_settings(WEB_CONCURRENCY="3")["workers"] == "3"


def test_a_worker_keeps_the_loaded_app_out_of_garbage_collection():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    gc.unfreeze()
    try:
        settings.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
