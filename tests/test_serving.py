"""How gunicorn serves Parley: the settings in gunicorn.conf.py apply wherever it is started."""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess

import requests

from tests.processes import BIN, ROOT, Stack


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


def test_a_launch_link_with_a_token_over_4_kb_gets_parleys_403_page(database_url, tmp_path):
    """Served by gunicorn as deployed: the link reaches Parley, which says why it refuses it."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "serving-test-secret",
           "EMBED_SECRET": "serving-test-embed-secret-of-32-bytes", "PARLEY_IMPORT_FOLDER": str(tmp_path),
           "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}"}  # fmt: skip
    stack = Stack(env=env, log_dir=tmp_path)
    stack.start_web()
    try:
        response = requests.get(f"{stack.url}/embed/launch", params={"token": "a" * 6000}, timeout=10)
    finally:
        stack.stop()
    assert response.status_code == 403
    assert "The launch token is too large (more than 4 KB)." in response.text
