"""Running a task: one run at a time, cancellable, with the conversation a chat keeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_hf.ui.messages import RunCancelled, RunFailed, RunFinished, RunProgressed

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_hf.core.tasks.registry import TaskSpec


class RunController:
    def __init__(self, screen: Screen[Any], log_path: Path | None = None) -> None:
        self.screen = screen
        self.log_path = log_path
        self._cancel: threading.Event | None = None
        self.task: str | None = None  # the task of the run under way
        self.chat_history: list[dict[str, str]] = []
        self._inputs: tuple[Any, TaskSpec, list[str], dict[str, Any]] | None = None  # the run under way's
        self.finished_inputs: tuple[Any, TaskSpec, list[str], dict[str, Any]] | None = None  # the last finished run's

    @property
    def running(self) -> bool:
        return self._cancel is not None and not self._cancel.is_set()

    def start(self, loaded: Any, spec: TaskSpec, texts: list[str], options: dict[str, Any]) -> None:
        """Start a run; a run still under way is cancelled (a newer run replaces it)."""
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = cancel = threading.Event()
        self.task = spec.name
        if spec.name == "conversational":
            options = {**options, "history": list(self.chat_history)}
        self._inputs = (loaded, spec, list(texts), dict(options))
        self.screen.run_worker(
            partial(self._run, loaded, spec, texts, options, cancel),
            thread=True,
            exclusive=True,
            group="run",
            exit_on_error=False,
            description=f"run {spec.name}",
        )

    def cancel(self) -> bool:
        """Ask the run to stop; generation ends at the next token. False when nothing was running."""
        if not self.running:
            return False
        assert self._cancel is not None
        self._cancel.set()
        self.screen.post_message(RunCancelled(self.task or ""))
        return True

    def finished(self, message: RunFinished) -> None:
        self._cancel = None
        self.finished_inputs = self._inputs
        if message.task == "conversational":
            self.chat_history = message.result.history

    def finished_without_result(self) -> None:
        self._cancel = None

    def code_source(self, trust_remote_code: bool = False) -> Callable[[], Any] | None:
        """What makes the code view of the last finished run (its model, inputs and options)."""
        if self.finished_inputs is None:
            return None
        from tui_hf.core.tasks.code import code_for

        loaded, spec, texts, options = self.finished_inputs
        return partial(code_for, spec, loaded, texts, options, trust_remote_code=trust_remote_code)

    def reset_chat(self) -> None:
        self.chat_history = []

    def _run(
        self, loaded: Any, spec: TaskSpec, texts: list[str], options: dict[str, Any], cancel: threading.Event
    ) -> None:
        from tui_hf.core.errors import Cancelled, TuiHfError

        post = self.screen.post_message
        started = time.perf_counter()

        def emit(partial_result: Any) -> None:
            if not cancel.is_set():
                post(RunProgressed(spec.name, partial_result))

        try:
            result = spec.load_runner()(loaded, texts, options, cancel, emit, explain=True)
        except Cancelled:
            return
        except TuiHfError as exc:
            if not cancel.is_set():
                post(RunFailed(spec.name, str(exc)))
            return
        except Exception as exc:  # a bug or a model that fails mid-run: one line here, the traceback in the log
            from tui_hf.core.quiet import log_failure

            path = log_failure(f"{spec.name} failed", exc, self.log_path)
            if not cancel.is_set():
                post(RunFailed(spec.name, f"{type(exc).__name__}: {exc} (traceback in {path})"))
            return
        if not cancel.is_set():
            post(RunFinished(spec.name, result, time.perf_counter() - started))
