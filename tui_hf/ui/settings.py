"""What the app is started with (from the command line, or a test's or script's make_app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_TEXT = "Hugging Face transformers, tokenized live as you type!\nI've been waiting for a course like this."


@dataclass
class AppSettings:
    task: str = "feature-extraction"
    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    device_map: str | None = None  # "auto": accelerate spreads the model over the GPUs and CPU memory
    quantize: str | None = None  # "8bit" | "4bit" (bitsandbytes, CUDA only)
    offline: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False
    text: str = DEFAULT_TEXT
    log_path: Path | None = None
    runs_dir: Path | None = None  # default: ./runs or $TUI_HF_RUNS
    debounce: float = 0.06  # seconds of quiet typing before the breakdown recomputes
    keep_running_on_error: bool = True  # a bug is logged and shown; False: Textual's traceback and exit (tests)
