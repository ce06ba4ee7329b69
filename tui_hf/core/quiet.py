"""Keep library chatter (logging, tqdm bars, LOAD REPORT tables) off the terminal.

A TUI owns the terminal: a stray tqdm bar or warning printed by a worker thread scrambles the screen.
Everything goes to a log file, and optionally to a callback the UI turns into a log pane.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

LOG_NAMES = ("transformers", "huggingface_hub", "datasets", "accelerate", "tui_hf")


def default_log_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "tui-hf" / "tui-hf.log"


class CallbackHandler(logging.Handler):
    """Hands each formatted record to a callable (the UI posts it as a message)."""

    def __init__(self, sink: Callable[[str, int], None]) -> None:
        super().__init__(level=logging.INFO)
        self._sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink(self.format(record), record.levelno)
        except Exception:  # a closed UI must never break a worker's logging
            pass


_configured = False


def route_library_logs(log_path: Path | None = None) -> Path:
    """Send the libraries' logs to `log_path`, and silence their progress bars.

    Safe to call before transformers is imported: the environment variables cover the import itself,
    the explicit calls cover an already imported library.
    """
    global _configured
    path = log_path or default_log_path()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handlers: list[logging.Handler] = []
    if not _configured:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        file_handler.setLevel(logging.INFO)
        handlers.append(file_handler)
        _configured = True
    for name in LOG_NAMES:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        for handler in handlers:
            logger.addHandler(handler)
    silence_imported_libraries()
    return path


def attach_sink(sink: Callable[[str, int], None]) -> logging.Handler:
    """Also hand every library log record to `sink` (the app's log pane); detach it when done."""
    handler = CallbackHandler(sink)
    for name in LOG_NAMES:
        logging.getLogger(name).addHandler(handler)
    return handler


def detach_sink(handler: logging.Handler) -> None:
    for name in LOG_NAMES:
        logging.getLogger(name).removeHandler(handler)


def silence_imported_libraries() -> None:
    """Turn off handlers and bars that transformers / huggingface_hub install on import."""
    import sys

    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_info()
        # transformers installs its own handler list; re-attach ours after disabling the default one.
        tf_logger = logging.getLogger("transformers")
        tf_logger.propagate = False
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
