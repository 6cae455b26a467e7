"""The house's arrows (.importlinter) hold, checked by import-linter's own `lint-imports`.

The second test proves the check can fail: the same contracts, run on a copy of the package with
one arrow drawn the wrong way, must break.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(LINT + ["--no-cache"], cwd=where, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"})


def test_the_layers_contracts_are_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, arrow, broken", [
    ("service/generation.py", "import imagen_ui.ui", "Nothing imports the page"),
    ("ui/form.py", "import imagen_ui.store.history", "only through the service"),
    ("emulator/routes.py", "import imagen_ui.schema", "The emulator imports nothing"),
    ("credentials.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import imagen_ui.settings",
     "No import cycles"),
])
def test_an_arrow_the_wrong_way_breaks_a_contract(tmp_path, module, arrow, broken):
    shutil.copytree(ROOT / "imagen_ui", tmp_path / "imagen_ui",
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    with open(tmp_path / "imagen_ui" / module, "a") as source:
        source.write(f"\n{arrow}\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert broken in result.stdout.replace("\n", " ")
