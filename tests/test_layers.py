"""The layers are checked by a tool: import-linter's contracts in pyproject.toml hold for the code,
and they catch what ARCHITECTURE.md forbids, imports inside function bodies included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = [
    "Layers: entry points → services → models, never upward",
    "Nothing imports the app factory back (webapp/__init__.py)",
    "Plugins import only webapp.plugin_api of Parley",
    "The core reaches plugins only through the registry",
    "No import cycles between sibling modules",
]


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_layer_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in CONTRACTS:
        assert f"{contract} KEPT" in result.stdout


def add_lines(path: Path, *lines: str) -> None:
    path.write_text(path.read_text() + "\n" + "\n".join(lines) + "\n")


def test_the_contracts_catch_upward_imports_plugins_reaching_in_and_hidden_cycles(tmp_path):
    for package in ("webapp", "plugins"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    # A model reaching up into a service, inside a function body.
    add_lines(tmp_path / "webapp/models/audit.py", "def _up():", "    from webapp.services import audit")
    # A plugin reading the models instead of the plugin API.
    add_lines(tmp_path / "plugins/console_sms/__init__.py", "from webapp.models import User")
    # The queue importing the tasks back, hidden in a function body.
    add_lines(tmp_path / "webapp/queue.py", "def _back():", "    from webapp.tasks import Tasks")
    # A new module nobody placed in the layers.
    (tmp_path / "webapp/unplaced.py").write_text("VALUE = 1\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    out = result.stdout
    assert "webapp.models is not allowed to import webapp.services" in out
    assert "plugins.console_sms -> webapp.models" in out
    assert "webapp.queue is not allowed to import webapp.tasks" in out
    assert "No cycles are allowed in webapp." in out
    assert "- webapp.unplaced" in out  # every module must have a layer
