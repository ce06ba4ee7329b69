"""Which model is loaded, for which task; the workers that load and save it."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.worker import get_current_worker

from tui_hf.ui.messages import LoadFailed, LoadProgressed, ModelLoaded, ModelSaved, TokenizerLoaded

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_hf.core.tasks.registry import TaskSpec
    from tui_hf.ui.settings import AppSettings

log = logging.getLogger("tui_hf.ui")


def ui_hint(exc: BaseException) -> str:
    """What the user can do about a load or save error in the app (the core's message names no keys or flags)."""
    from tui_hf.core.errors import OfflineError, PickleOnlyError, RemoteCodeError, TargetNotEmptyError

    if isinstance(exc, RemoteCodeError):
        return "Start tui-hf with --trust-remote-code to allow it, only for a source you trust."
    if isinstance(exc, OfflineError):
        return "Type a model directory in the Model box, pick one with ctrl+o, or use embedded."
    if isinstance(exc, TargetNotEmptyError):
        return "Tick overwrite to write into it anyway."
    if isinstance(exc, PickleOnlyError):
        return "The app asks before it loads pickle weights."
    return ""


class ModelController:
    """The loaded model is replaced only by a model that loaded: a failed load leaves the old one in place,
    and `serves(task)` says whether it can run the task now on screen."""

    def __init__(self, screen: Screen[Any], settings: AppSettings) -> None:
        self.screen, self.settings = screen, settings
        self.reference: str | None = settings.model  # None: each task's default model
        self.explicit = settings.model is not None
        self.tokenizer: Any = None
        self.tokenizer_reference: str | None = None
        self.loaded: Any = None  # core.models.LoadedModel
        self.loading: tuple[str | None, str] | None = None  # (reference, task) of the load under way
        self.last_error: str | None = None
        self.pickle_ok: set[str] = set()  # references the user agreed to unpickle this session

    def serves(self, task: str) -> bool:
        return self.loaded is not None and self.loaded.info.task == task

    def choose(self, reference: str | None) -> None:
        """The user named a model (or cleared the field: back to each task's default)."""
        self.reference = reference
        self.explicit = reference is not None

    def load(self, task: TaskSpec, reference: str | None = None) -> None:
        reference = reference if reference is not None else (self.reference if self.explicit else None)
        self.loading = (reference, task.name)
        self.last_error = None
        self.screen.run_worker(
            partial(self._load, reference, task),
            thread=True,
            exclusive=True,
            group="load",
            exit_on_error=False,
            description=f"load {reference or 'default'} for {task.name}",
        )

    def _load(self, reference: str | None, task: TaskSpec) -> None:
        from tui_hf.core.catalog import remember
        from tui_hf.core.errors import PickleOnlyError, TuiHfError
        from tui_hf.core.hub import default_reference, parse_ref, resolve
        from tui_hf.core.models import load, load_tokenizer

        worker = get_current_worker()
        started = time.monotonic()
        post = self.screen.post_message

        def progress(stage: str, fraction: float) -> None:
            if not worker.is_cancelled:
                post(LoadProgressed(stage, fraction))

        name = reference or f"the default model for {task.name}"
        try:
            if reference is None:
                progress("choosing the task's default model", 0.01)
                reference = name = default_reference(task, self.settings.offline)
            progress(f"resolving {reference}", 0.02)
            resolved = resolve(parse_ref(reference), offline=self.settings.offline)
            tokenizer = self.tokenizer if self.tokenizer_reference == reference else None
            if tokenizer is None:
                progress("importing transformers", 0.1)
                tokenizer = load_tokenizer(resolved, self.settings.trust_remote_code)
                if worker.is_cancelled:
                    return
                post(TokenizerLoaded(tokenizer, reference))
            loaded = load(
                resolved,
                task,
                self.settings.device,
                self.settings.dtype,
                tokenizer=tokenizer,
                trust_remote_code=self.settings.trust_remote_code,
                allow_pickle=self.settings.allow_pickle or reference in self.pickle_ok,
                progress=progress,
                device_map=self.settings.device_map,
                quantize=self.settings.quantize,
            )
            remember(reference)
        except PickleOnlyError as exc:
            post(LoadFailed(name, str(exc), time.monotonic() - started, pickle=True))
            return
        except TuiHfError as exc:
            hint = ui_hint(exc)
            post(LoadFailed(name, f"{exc} {hint}".strip(), time.monotonic() - started))
            return
        except Exception as exc:  # a bug or a library failure we did not foresee: keep the traceback
            from tui_hf.core.quiet import log_failure

            path = log_failure(f"loading {name} for {task.name} failed", exc, self.settings.log_path)
            post(LoadFailed(name, f"{type(exc).__name__}: {exc} (traceback in {path})", time.monotonic() - started))
            return
        if not worker.is_cancelled:
            post(ModelLoaded(loaded, reference, time.monotonic() - started))

    def accept_tokenizer(self, message: TokenizerLoaded) -> None:
        self.tokenizer, self.tokenizer_reference = message.tokenizer, message.reference

    def accept(self, message: ModelLoaded) -> None:
        self.loaded, self.loading, self.last_error = message.loaded, None, None

    def reject(self, message: LoadFailed) -> None:
        self.loading, self.last_error = None, message.error

    def save(self, directory: str, overwrite: bool) -> None:
        self.screen.run_worker(
            partial(self._save, self.loaded, directory, overwrite),
            thread=True,
            group="save",
            exit_on_error=False,
            description=f"save to {directory}",
        )

    def _save(self, loaded: Any, directory: str, overwrite: bool) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.models import save

        try:
            out = save(loaded, directory, overwrite)
        except (TuiHfError, OSError) as exc:
            self.screen.post_message(ModelSaved(directory, f"{exc} {ui_hint(exc)}".strip()))
            return
        self.screen.post_message(ModelSaved(str(out)))
