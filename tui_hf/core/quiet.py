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


_file_handler: logging.FileHandler | None = None


def route_library_logs(log_path: Path | None = None) -> Path:
    """Send the libraries' logs (and the app's own) to `log_path`, and silence their progress bars.

    Safe to call before transformers is imported: the environment variables cover the import itself,
    the explicit calls cover an already imported library. Called again with another path, the log moves there.
    """
    global _file_handler
    path = Path(log_path or default_log_path())
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    old = _file_handler
    if old is None or Path(old.baseFilename) != path.absolute():
        path.parent.mkdir(parents=True, exist_ok=True)
        _file_handler = logging.FileHandler(path, encoding="utf-8")
        _file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        _file_handler.setLevel(logging.INFO)
    for name in LOG_NAMES:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        if old is not None and old is not _file_handler:
            logger.removeHandler(old)
        if _file_handler not in logger.handlers:
            logger.addHandler(_file_handler)
    if old is not None and old is not _file_handler:
        old.close()
    silence_imported_libraries()
    return path


def log_failure(summary: str, exc: BaseException, log_path: Path | None = None) -> Path:
    """Write `summary` and the traceback of `exc` (with its causes) to the log file; returns the file, so the
    one line the user sees can say where the details are."""
    path = route_library_logs(log_path)
    logging.getLogger("tui_hf").error("%s", summary, exc_info=(type(exc), exc, exc.__traceback__))
    if _file_handler is not None:
        _file_handler.flush()
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
