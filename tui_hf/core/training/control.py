"""Steering a running job: requests dropped into runs/<id>/control/, read by the job at step boundaries.

Any viewer (the app, `tui-hf control`, a script) writes one small JSON file per request, atomically (a
temporary name renamed into place), so the job never reads half a request. The job lists the directory once
per step, reads new requests in the order they were made, removes each
file, and acknowledges it with a `control` event that every viewer sees:

    {"event": "control", "action": "save", "via": "control", "request": "<file name>", "message": "..."}

Actions: save (a checkpoint now), eval (an evaluation now), stop (a checkpoint, then stop), early-stop
(arm: metric, patience), no-early-stop (disarm). A request the job cannot honour is acknowledged with
"refused": true and the reason, once: an entry that is not a request (a directory, a FIFO, a link) stays
where it is and is not read again. Only regular files are read, and without blocking, so nothing put in the
folder can hang the job. Stop also works by signal (`job.request_stop`), which needs no step boundary.
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tui_hf.core.errors import RunStateError, SpecError
from tui_hf.core.training.storage import storage_error, write_atomic

CONTROL = "control"
ACTIONS = ("save", "eval", "stop", "early-stop", "no-early-stop")
MAX_REQUEST = 64 * 1024  # a request is a few dozen bytes; more is not one


def check_patience(value: Any) -> int:
    """Evaluations without improvement before early stopping: a whole number, 1 or more.

    The one check for every way in (a request file, `tui-hf control --patience`, the app, the spec), so a
    value is accepted by all of them or refused by all with this message."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
        or number != int(number)
        or number < 1
    ):
        shown = json.dumps(value) if not isinstance(value, str) else value
        raise SpecError(f"early-stop patience must be a whole number of evaluations, 1 or more, not {shown}")
    return int(number)


@dataclass(frozen=True)
class Control:
    action: str
    metric: str | None = None  # early-stop: the eval metric watched (eval_ prefix optional)
    patience: int | None = None  # early-stop: evaluations without improvement before stopping (see check)
    request: str = ""  # the file it came in (set when read)

    def check(self) -> Control:
        """The request as the job acts on it (patience a whole number), or SpecError saying why not."""
        if self.action not in ACTIONS:
            raise SpecError(f"unknown control {self.action!r}: use one of {', '.join(ACTIONS)}")
        if self.action == "early-stop":
            if not isinstance(self.metric, str) or not self.metric.strip():
                raise SpecError("early-stop needs the metric to watch (e.g. eval_loss)")
            if self.patience is None:
                raise SpecError("early-stop needs a patience of 1 evaluation or more")
            return replace(self, patience=check_patience(self.patience))
        return self


def control_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CONTROL


def run_metrics(run_dir: str | os.PathLike[str]) -> list[str]:
    """The eval metrics a run reports: those its evaluations wrote, else its task's (empty: unknown yet)."""
    from tui_hf.core.training.events import read_state
    from tui_hf.core.training.runs import SPEC
    from tui_hf.core.training.sentinel import eval_metrics

    seen = sorted({k for e in read_state(Path(run_dir)).evals for k in e if k.startswith("eval_")})
    if seen:
        return seen
    try:
        task = json.loads((Path(run_dir) / SPEC).read_text(encoding="utf-8")).get("task", "text-classification")
    except (OSError, ValueError, AttributeError):
        return []  # a script's run: known once it evaluates (the job refuses an unknown metric then)
    return list(eval_metrics(str(task)))


def send_control(run_dir: str | os.PathLike[str], control: Control, *, require_alive: bool = True) -> str:
    """Queue a request for the run's job; returns its id (the `request` of the acknowledging event).

    RunStateError when no process holds the run (nobody would read it) unless `require_alive` is False;
    SpecError for a request the job would refuse (early stopping on a metric the run does not report).
    """
    from tui_hf.core.training.runs import is_alive
    from tui_hf.core.training.sentinel import unknown_metric

    control = control.check()
    run_dir = Path(run_dir)
    if control.action == "early-stop" and control.metric:
        why = unknown_metric(control.metric, run_metrics(run_dir))
        if why:
            raise SpecError(why)
    if require_alive and not is_alive(run_dir):
        raise RunStateError(f"{run_dir.name} is not running: nothing would read the request")
    folder = control_dir(run_dir)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    body = {k: v for k, v in asdict(control).items() if v is not None and k != "request"}
    try:
        folder.mkdir(exist_ok=True)
        write_atomic(folder / name, json.dumps(body))
    except OSError as exc:
        raise storage_error(exc, f"cannot write a request into {folder}") from None
    return name


class Inbox:
    """The job's side: new requests since the last poll, oldest first; each file is removed once read."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.folder = control_dir(run_dir)
        # Entries acknowledged as unusable and left in place, by identity: answered once, not at every step.
        self._refused: dict[str, tuple[int, int]] = {}

    def poll(self) -> list[Control | str]:
        """Requests (a Control, or the reason an entry could not be used). One directory listing when idle:
        a modification-time shortcut would miss a request renamed in within the clock's granularity."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(".json") and not n.startswith("."))
        except OSError:
            return []
        out: list[Control | str] = []
        for name in names:
            path = self.folder / name
            known = self._refused.get(name)
            if known is not None:
                try:
                    st = os.lstat(path)
                    if (st.st_dev, st.st_ino) == known:
                        continue
                except OSError:
                    continue
                del self._refused[name]  # something new under that name: look at it
            item = self._read(name, path)
            if item is not None:
                out.append(item)
        for name in set(self._refused) - set(names):
            del self._refused[name]
        return out

    def _read(self, name: str, path: Path) -> Control | str | None:
        try:
            # Non-blocking and without following links: a FIFO would block a plain open until a writer came.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._refuse(name, path, f"cannot be read ({exc.strerror or exc}; a link?)")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = (
                    "a directory"
                    if stat.S_ISDIR(st.st_mode)
                    else "a FIFO"
                    if stat.S_ISFIFO(st.st_mode)
                    else "a device or socket"
                )
                return self._refuse(name, path, f"is {kind}, not a request file; left in place")
            data = os.read(fd, MAX_REQUEST + 1)
        except OSError as exc:
            return self._refuse(name, path, f"cannot be read ({exc.strerror or exc})")
        finally:
            os.close(fd)
        item: Control | str
        try:
            if len(data) > MAX_REQUEST:
                raise ValueError(f"more than {MAX_REQUEST // 1024} KiB")
            raw: Any = json.loads(data.decode("utf-8"))
            item = Control(
                action=str(raw["action"]), metric=raw.get("metric"), patience=raw.get("patience"), request=name
            ).check()
        except (ValueError, KeyError, TypeError, AttributeError, SpecError) as exc:
            item = f"{name}: not a request this job understands ({exc})"
        try:
            path.unlink()
        except OSError:
            # It cannot be removed: remember it, so it is answered once rather than at every step.
            self._remember(name, path)
        return item

    def _refuse(self, name: str, path: Path, why: str) -> str:
        self._remember(name, path)
        return f"{name} {why}"

    def _remember(self, name: str, path: Path) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        self._refused[name] = (st.st_dev, st.st_ino)
