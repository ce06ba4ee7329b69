"""The training engines by name: the two ways the Hugging Face course finetunes. Same spec in, same events
out, same run directory layout (checkpoints/checkpoint-<step>, final/)."""

from __future__ import annotations

from tui_hf.core.training.engine import Engine, drive  # noqa: F401
from tui_hf.core.training.engine_native import NativeEngine
from tui_hf.core.training.engine_trainer import TrainerEngine

ENGINES: dict[str, type[Engine]] = {"trainer": TrainerEngine, "native": NativeEngine}
