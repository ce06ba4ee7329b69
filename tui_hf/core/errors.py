"""The app's own errors: each says, in one line, what went wrong and what the user can do about it.

The command line maps them to exit codes (`exit_code`), the UI to a notification; anything that is not a
`TuiHfError` is a bug, whose traceback goes to the log file. Which class is raised is decided from facts
(the files in a model directory, a config, a spec's types), never from another library's message text.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_USAGE = 2  # bad arguments, bad input, bad spec or data
EXIT_LOAD = 3  # the model cannot be loaded, or cannot serve the task
EXIT_RUN = 4  # the run itself failed


class TuiHfError(Exception):
    """Base of every error the app expects and explains."""

    exit_code = EXIT_USAGE


class ModelLoadError(TuiHfError):
    """A model could not be resolved or loaded, or cannot serve the task."""

    exit_code = EXIT_LOAD


class OfflineError(ModelLoadError):
    """A hub id that is not cached, while the Hub cannot be reached."""


class PickleOnlyError(ModelLoadError):
    """Only pickle weights exist (pytorch_model.bin...); unpickling can run code, so it takes an explicit yes."""


class RemoteCodeError(ModelLoadError):
    """The model needs its own Python code (auto_map in its config); that takes --trust-remote-code."""


class DeviceError(TuiHfError):
    """A device or dtype that this machine does not have."""


class TaskInputError(TuiHfError):
    """The input does not suit the task (no mask token, empty question, an unknown language...)."""


class UnknownTaskError(TuiHfError):
    """A task name that is not in the registry."""


class SpecError(TuiHfError):
    """A training spec or its data cannot run; the message names every problem found."""


class DataError(SpecError):
    """A data file that cannot train; the message names the file, the line and the column."""


@dataclass(frozen=True)
class Problem:
    """One reason a run cannot start."""

    text: str
    key: str | None = None  # the spec setting that would allow it (the CLI shows its flag)


class RunRefused(SpecError):
    """A run that cannot start; `problems` lists each reason (str() joins them)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.text for p in problems))


class SaveTargetError(TuiHfError):
    """A model cannot be saved where asked (the target is a file, not a directory)."""


class TargetNotEmptyError(SaveTargetError):
    """The save target already holds files; writing into it takes an explicit yes."""


class RunError(TuiHfError):
    """A task run failed inside the model or its runner: not the user's doing, so the traceback is logged."""

    exit_code = EXIT_RUN


class StorageError(TuiHfError):
    """A run directory cannot be written (full disk, read-only, no permission)."""

    exit_code = EXIT_RUN


class RunStateError(TuiHfError):
    """A run is not in a state that allows the request (resume while running, delete while alive...)."""


class DataChanged(RunStateError):
    """A resume on data other than the run started on; `changes` says what changed, one phrase per file."""

    def __init__(self, run: str, changes: list[str]) -> None:
        self.changes = changes
        super().__init__(
            f"{run}: the data changed since the run started ({'; '.join(changes)}); resuming would "
            "train on rows it did not start with. Resume with --data-changed to go on anyway (the "
            "rows it validated on stay validation rows), or start a new run"
        )


class Cancelled(Exception):
    """The user cancelled a run (a newer run replaced it, or they pressed cancel). Not an error to show."""
