"""The core/UI wall, and the promise that the app and the command line start without torch or transformers.

Every module under tui_hf/core is found by walking the package, so a new module is covered the day it is
added; its source is parsed, so an import inside a function (which an import test would never run) counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tui_hf.core

CORE = Path(tui_hf.core.__file__).parent
# What the core must never reach: the UI toolkit, and our own UI package.
FORBIDDEN = ("textual", "tui_hf.ui")


def core_modules() -> dict[str, Path]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(CORE.parent.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    drop = node.level - 1 if is_package else node.level  # `.` in a package's __init__ is the package itself
    package = parts[: len(parts) - drop]
    return ".".join(package + ([node.module] if node.module else []))


def forbidden_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import of a FORBIDDEN package anywhere in `source` (module level, functions, classes, branches),
    including importlib.import_module("...") and __import__("...") with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node, is_package)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"line {node.lineno}: {name}")
    return found


def test_the_wall_sees_every_core_module() -> None:
    modules = core_modules()
    # Spot checks that the walk reaches every level (files named here exist today; the walk does not need them).
    assert {"tui_hf.core", "tui_hf.core.models", "tui_hf.core.tasks.registry", "tui_hf.core.training.job"} <= set(
        modules)
    assert len(modules) == len(list(CORE.rglob("*.py")))


@pytest.mark.parametrize("source", [
    "import textual",
    "from textual.widgets import Static",
    "def f():\n    from textual.app import App\n",
    "class C:\n    def m(self):\n        if True:\n            import textual.widgets as w\n",
    "def f():\n    from tui_hf.ui.app import make_app\n",
    "def f():\n    from ...ui import render\n",
    "import importlib\ndef f():\n    importlib.import_module('textual.app')\n",
])
def test_the_wall_detects_a_forbidden_import_wherever_it_hides(source: str) -> None:
    assert forbidden_imports(source, "tui_hf.core.tasks.example")


def test_relative_imports_resolve_from_a_package_init() -> None:
    assert forbidden_imports("from ..ui import app", "tui_hf.core", is_package=True)
    assert not forbidden_imports("from .tasks import registry", "tui_hf.core", is_package=True)


def test_the_wall_lets_plain_imports_through() -> None:
    ok = "import json\nfrom tui_hf.core.errors import TuiHfError\ndef f():\n    import torch\n    from .common import x\n"
    assert forbidden_imports(ok, "tui_hf.core.tasks.example") == []


def test_no_core_module_imports_the_ui_anywhere() -> None:
    offenders = {name: found for name, path in core_modules().items()
                 if (found := forbidden_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))}
    assert not offenders, f"core modules import the UI: {offenders}"


def _modules_after(code: str) -> set[str]:
    script = "import sys\n" + code + "\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_importing_every_core_module_loads_no_textual() -> None:
    loaded = _modules_after("".join(f"import {m}\n" for m in core_modules()))
    assert not {m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}


def test_app_and_cli_start_without_torch_or_transformers() -> None:
    loaded = _modules_after("import tui_hf.cli, tui_hf.ui.app")
    assert "textual" in loaded
    assert "torch" not in loaded
    assert "transformers" not in loaded


def test_task_help_answers_without_torch_or_transformers() -> None:
    loaded = _modules_after("from tui_hf.cli import main\nassert main(['run', 'question-answering', '--help']) == 0")
    assert "torch" not in loaded and "transformers" not in loaded
