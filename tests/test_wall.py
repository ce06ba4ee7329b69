"""The core/UI wall and the promise that the UI starts without torch or transformers."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "tui_hf.core.models", "tui_hf.core.tokens", "tui_hf.core.device", "tui_hf.core.quiet",
    "tui_hf.core.tasks.registry", "tui_hf.core.tasks.common", "tui_hf.core.tasks.classification",
    "tui_hf.core.tasks.embedding", "tui_hf.core.tasks.forms",
]


def _modules_after_import(*modules: str) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_never_imports_textual() -> None:
    loaded = _modules_after_import(*CORE_MODULES)
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_app_and_cli_start_without_torch_or_transformers() -> None:
    loaded = _modules_after_import("tui_hf.cli", "tui_hf.ui.app")
    assert "textual" in loaded
    assert "torch" not in loaded
    assert "transformers" not in loaded
