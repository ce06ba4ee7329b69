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


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:`: imports for the type checker that never run."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if test is not None and "TYPE_CHECKING" in ast.unparse(test):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def imported_names(
    source: str, module: str, is_package: bool = False, run_time_only: bool = False
) -> list[tuple[int, str]]:
    """Every name `source` imports, with its line: module level, functions, classes, branches, TYPE_CHECKING
    blocks (unless `run_time_only`), and importlib.import_module("...") / __import__("...") with a literal
    name. A `from X import y` gives both X and X.y (y may be a submodule)."""
    found = []
    tree = ast.parse(source)
    skip = _type_checking_only(tree) if run_time_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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
        found += [(node.lineno, name) for name in names]
    return found


def forbidden_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import of a FORBIDDEN package anywhere in `source`."""
    return [
        f"line {line}: {name}"
        for line, name in imported_names(source, module, is_package)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]


def test_the_wall_sees_every_core_module() -> None:
    modules = core_modules()
    # Spot checks that the walk reaches every level (files named here exist today; the walk does not need them).
    assert {"tui_hf.core", "tui_hf.core.models", "tui_hf.core.tasks.registry", "tui_hf.core.training.job"} <= set(
        modules
    )
    assert len(modules) == len(list(CORE.rglob("*.py")))


@pytest.mark.parametrize(
    "source",
    [
        "import textual",
        "from textual.widgets import Static",
        "def f():\n    from textual.app import App\n",
        "class C:\n    def m(self):\n        if True:\n            import textual.widgets as w\n",
        "def f():\n    from tui_hf.ui.app import make_app\n",
        "def f():\n    from ...ui import render\n",
        "import importlib\ndef f():\n    importlib.import_module('textual.app')\n",
    ],
)
def test_the_wall_detects_a_forbidden_import_wherever_it_hides(source: str) -> None:
    assert forbidden_imports(source, "tui_hf.core.tasks.example")


def test_relative_imports_resolve_from_a_package_init() -> None:
    assert forbidden_imports("from ..ui import app", "tui_hf.core", is_package=True)
    assert not forbidden_imports("from .tasks import registry", "tui_hf.core", is_package=True)


def test_the_wall_lets_plain_imports_through() -> None:
    ok = "import json\nfrom tui_hf.core.errors import TuiHfError\ndef f():\n    import torch\n    from .common import x\n"
    assert forbidden_imports(ok, "tui_hf.core.tasks.example") == []


def test_no_core_module_imports_the_ui_anywhere() -> None:
    offenders = {
        name: found
        for name, path in core_modules().items()
        if (found := forbidden_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))
    }
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


def test_tui_hf_alone_imports_only_what_its_first_frame_needs() -> None:
    """`tui-hf` opens the app: no sub-command parsers (the training families), no task forms or model code, no
    pane that mounts after the first frame; each would delay that frame (bench/startup.py)."""
    loaded = _modules_after(
        "import tui_hf.cli as cli\ncli.launch_app = lambda args, task: 0\nassert cli.main([]) == 0\n"
        "import tui_hf.ui.app, tui_hf.ui.main"
    )
    later = ("tui_hf.cli.training", "tui_hf.core.training", "tui_hf.core.tasks.forms", "tui_hf.core.models")
    later += ("tui_hf.ui.inference.tokens", "tui_hf.ui.inference.compare", "tui_hf.ui.training")
    assert "tui_hf.ui.main" in loaded
    assert not {m for m in loaded if any(m == f or m.startswith(f + ".") for f in later)}


def test_task_help_answers_without_torch_or_transformers() -> None:
    loaded = _modules_after("from tui_hf.cli import main\nassert main(['run', 'question-answering', '--help']) == 0")
    assert "torch" not in loaded and "transformers" not in loaded


# -- the two wings, and no circles -------------------------------------------------------------------------

PACKAGE = CORE.parent


def all_modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(modules: dict[str, Path], run_time_only: bool = False) -> dict[str, set[str]]:
    """Which of our modules each module imports, anywhere in its source (a name that is a class or function
    counts as its module). A package's own __init__ is not an edge from its submodules: Python runs it first
    anyway, and it holds no code here that could close a circle. `run_time_only` leaves out the imports under
    `if TYPE_CHECKING:` (as import-linter's exclude_type_checking_imports does): they never run, so they can
    close no circle; a function-level import does run, and counts."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        source = path.read_text(encoding="utf-8")
        for _, imported in imported_names(source, name, path.name == "__init__.py", run_time_only):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_sees_a_circle_through_a_function_level_import() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    graph = {"m.x": {"m.y"}, "m.y": set()}
    lazy = "def f():\n    from m.x import thing\n"
    graph["m.y"] = {n for _, n in imported_names(lazy, "m.y", run_time_only=True)} & set(graph)
    assert circles(graph) == [["m.x", "m.y"]]
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from m.x import Thing\n"
    assert not {n for _, n in imported_names(typing_only, "m.y", run_time_only=True)} & set(graph)
    assert {n for _, n in imported_names(typing_only, "m.y")} & set(graph) == {"m.x"}


def test_no_two_modules_import_each_other_even_inside_functions() -> None:
    found = circles(import_graph(all_modules(), run_time_only=True))
    assert not found, f"import circles: {found}"


# What each wing may not reach: training and inference are two products over the shared pieces
# (models, hub, tokens, errors); a newcomer can change one without reading the other.
WINGS = {
    "tui_hf.core.training": ("tui_hf.core.tasks", "tui_hf.core.generation"),
    "tui_hf.core.tasks": ("tui_hf.core.training",),
    "tui_hf.core.generation": ("tui_hf.core.training",),
    "tui_hf.ui.training": ("tui_hf.ui.inference",),
    "tui_hf.ui.inference": ("tui_hf.ui.training",),
}


def wing_crossings(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for name, targets in sorted(graph.items()):
        for wing, barred in WINGS.items():
            if name == wing or name.startswith(wing + "."):
                out += [
                    f"{name} -> {t}" for t in sorted(targets) if any(t == b or t.startswith(b + ".") for b in barred)
                ]
    return out


def test_the_wing_check_sees_a_crossing() -> None:
    assert wing_crossings({"tui_hf.ui.training.run_view": {"tui_hf.ui.inference.tokens"}}) == [
        "tui_hf.ui.training.run_view -> tui_hf.ui.inference.tokens"
    ]


def test_the_wings_never_import_each_other() -> None:
    assert not wing_crossings(import_graph(all_modules()))


def test_every_error_class_lives_in_core_errors() -> None:
    """One file lists every error the app expects (and its exit code): a new kind is added there, not beside
    the code that raises it."""
    import importlib

    from tui_hf.core.errors import TuiHfError

    for name in all_modules():
        if name not in ("tui_hf.__main__", "tui_hf.train"):  # entry points: importing them runs them
            importlib.import_module(name)
    pending, elsewhere = [TuiHfError], []
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__ != "tui_hf.core.errors" and not sub.__module__.startswith("tests"):
                elsewhere.append(f"{sub.__module__}.{sub.__name__}")
    assert not elsewhere, f"error classes outside core/errors.py: {elsewhere}"


def test_every_name_imported_from_our_modules_exists_even_inside_functions() -> None:
    """A module moved or a class moved to another module leaves no import behind that only fails when the
    function holding it runs (a button's handler, a rarely taken branch)."""
    import importlib

    modules = all_modules()
    missing = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _absolute(name, node, path.name == "__init__.py")
            if base not in modules:
                if base.startswith("tui_hf"):
                    missing.append(f"{name}: line {node.lineno}: no module {base}")
                continue
            module = importlib.import_module(base)
            for alias in node.names:
                if not hasattr(module, alias.name) and f"{base}.{alias.name}" not in modules:
                    missing.append(f"{name}: line {node.lineno}: {base} has no {alias.name}")
    assert not missing, missing
