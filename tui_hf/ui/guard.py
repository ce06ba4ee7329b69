"""An unexpected exception is a bug to report, not a reason to lose the user's session.

Textual's answer to any exception in a handler, a timer or a worker is to print a traceback and exit. That
throws away a loaded model, the input and the view of a training run, for what is often a bug in one button.
`KeepsRunning` apps write the traceback to the log file, show one line saying where it is, and carry on.

Two paths lead to Textual's `App._handle_exception`: the message loops (a handler that raises) and everything
else (timers, compose, workers started with exit_on_error). The first also stops the loop that raised, and a
widget whose loop stops is removed from the screen, a screen's loop stopping freezes the app; so message
dispatch is guarded too, for apps that ask for it. A thread worker started with exit_on_error=False fails
silently in Textual; its failure is reported here as well (its Worker.StateChanged passes the same guard).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import Worker, WorkerFailed, WorkerState


class KeepsRunning:
    """Mixin for an App (list it before App): unexpected exceptions are logged and shown, the app stays up.

    `keep_running_on_error` False keeps Textual's behaviour (a traceback and exit) after logging: tests use it
    so that a bug fails the test at once."""

    keep_running_on_error: bool = True
    log_path: Path | None = None  # None: the default log file (core.quiet.default_log_path)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported: dict[tuple[str, str], int] = {}  # (type, first line) -> how often it happened
        self._up = False  # until its first screen is mounted a failure still exits: the app never worked
        install_dispatch_guard()

    def _on_mount(self) -> None:  # the default screen is mounted by now (Textual calls the app's on_mount too)
        self._up = True

    @property
    def survives_errors(self) -> bool:
        return self.keep_running_on_error and self._up and not getattr(self, "_exit", False)

    def report_unexpected(self, error: BaseException, where: str = "") -> None:
        """The traceback to the log file (once per distinct error), one line on screen."""
        if isinstance(error, WorkerFailed):
            error = error.error
        first = (str(error).strip().splitlines() or [""])[0][:200]
        key = (type(error).__name__, first)
        seen = self._reported.get(key, 0)
        self._reported[key] = seen + 1
        if seen:  # the same failure again (a timer, a redraw): one notice and one traceback are enough
            return
        from tui_hf.core.quiet import log_failure

        summary = f"unexpected {type(error).__name__}{f' in {where}' if where else ''}"
        try:
            path: Any = log_failure(summary, error, self.log_path)
        except OSError:  # the log cannot be written: the notice still says what happened
            path = "nowhere: the log file cannot be written"
        detail = f": {first}" if first else ""
        self.notify(
            f"{summary}{detail} (a bug; the app carries on, the traceback is in {path})",  # type: ignore[attr-defined]
            title="Something went wrong",
            severity="error",
            timeout=15,
            markup=False,
        )

    def _handle_exception(self, error: Exception) -> None:
        if self.survives_errors:
            self.report_unexpected(error)
            return
        try:
            from tui_hf.core.quiet import log_failure

            log_failure(f"unexpected {type(error).__name__}, the app stopped", error, self.log_path)
        except Exception:  # exiting with the traceback on screen matters more than the log
            pass
        super()._handle_exception(error)  # type: ignore[misc]


_original_dispatch = MessagePump._dispatch_message


async def _guarded_dispatch(self: MessagePump, message: Message) -> None:
    try:
        app: Any = self.app
    except Exception:  # no active app (a pump being torn down): nothing to guard
        app = None
    if not isinstance(app, KeepsRunning):
        await _original_dispatch(self, message)
        return
    if isinstance(message, Worker.StateChanged) and message.state == WorkerState.ERROR:
        worker = message.worker
        if not worker.exit_on_error and worker.error is not None:  # the others go to _handle_exception
            app.report_unexpected(worker.error, f"worker {worker.description or worker.name}".strip())
    try:
        await _original_dispatch(self, message)
    except Exception as error:
        if not app.survives_errors:
            raise
        app.report_unexpected(error, f"{type(self).__name__}.{message.handler_name}")


def install_dispatch_guard() -> None:
    """Route exceptions raised while a KeepsRunning app dispatches a message to its report (idempotent)."""
    MessagePump._dispatch_message = _guarded_dispatch  # type: ignore[method-assign]
