"""Steering a running job: requests dropped into runs/<id>/control/, read by the job at step boundaries.

Any viewer (the app, `tui-hf control`, a script) writes one small JSON file per request, atomically (a
temporary name renamed into place), so the job never reads half a request. The job lists the directory once
per step, reads new requests in the order they were made, removes each
file, and acknowledges it with a `control` event that every viewer sees:

    {"event": "control", "action": "save", "via": "control", "request": "<file name>", "message": "..."}

Actions: save (a checkpoint now), eval (an evaluation now), stop (a checkpoint, then stop), early-stop
(arm: metric, patience), no-early-stop (disarm). A request the job cannot honour is acknowledged with
"refused": true and the reason. Stop also works by signal (`job.request_stop`), which needs no step boundary.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import RunStateError, SpecError
from tui_hf.core.training.storage import storage_error, write_atomic

CONTROL = "control"
ACTIONS = ("save", "eval", "stop", "early-stop", "no-early-stop")


@dataclass(frozen=True)
class Control:
    action: str
    metric: str | None = None  # early-stop: the eval metric watched (eval_ prefix optional)
    patience: int | None = None  # early-stop: evaluations without improvement before stopping
    request: str = ""  # the file it came in (set when read)

    def check(self) -> Control:
        if self.action not in ACTIONS:
            raise SpecError(f"unknown control {self.action!r}: use one of {', '.join(ACTIONS)}")
        if self.action == "early-stop":
            if not self.metric:
                raise SpecError("early-stop needs the metric to watch (e.g. eval_loss)")
            if self.patience is None or self.patience < 1:
                raise SpecError("early-stop needs a patience of 1 evaluation or more")
        return self


def control_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CONTROL


def send_control(run_dir: str | os.PathLike[str], control: Control, *, require_alive: bool = True) -> str:
    """Queue a request for the run's job; returns its id (the `request` of the acknowledging event).

    RunStateError when no process holds the run (nobody would read it) unless `require_alive` is False.
    """
    from tui_hf.core.training.runs import is_alive

    control.check()
    run_dir = Path(run_dir)
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

    def poll(self) -> list[Control | str]:
        """Requests (a Control, or the reason a file could not be used). One directory listing when idle:
        a modification-time shortcut would miss a request renamed in within the clock's granularity."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(".json") and not n.startswith("."))
        except OSError:
            return []
        out: list[Control | str] = []
        for name in names:
            path = self.folder / name
            try:
                raw: Any = json.loads(path.read_text(encoding="utf-8"))
                control = Control(action=str(raw["action"]), metric=raw.get("metric"),
                                  patience=raw.get("patience"), request=name).check()
                out.append(control)
            except (OSError, ValueError, KeyError, TypeError, SpecError) as exc:
                out.append(f"{name}: not a request this job understands ({exc})")
            try:
                path.unlink()
            except OSError:
                pass
        return out
