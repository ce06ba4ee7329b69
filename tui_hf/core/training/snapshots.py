"""The job's own copy of the batches it trains, for an X-ray that shows at once.

Rebuilding a step's batch (xray.py) needs torch, transformers, the tokenizer and the tokenized data: seconds
in a fresh viewer, most of it imports. The running job has all of that loaded, so it keeps the X-ray of a
recent step itself, as JSON a viewer reads without importing anything heavy:

    runs/<id>/xray/latest.json     the last step kept (rewritten at most about once a second)
    runs/<id>/xray/step-<n>.json   each step the sentinel flagged (what x opens first), up to MAX_FLAGGED

A viewer shows the kept copy at once and then checks it against the data as before (the rebuild compares
hashes with batches.jsonl): the copy is what the job trained, the rebuild says whether the data still makes it.

Keeping costs the job little: the tensors the forward pass received are held until the step ends, and a
copy is made only when due (the first step, then no sooner than a second later and than 100 times what the
last copy took, so it stays under 1 % of the job's time whatever the batch size) or when the step is flagged.
Writing is best effort: a full disk or a read-only run directory never stops training, the viewer rebuilds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import Any

from tui_hf.core.training.xray import BatchXray, XrayRow, assemble

log = logging.getLogger(__name__)

FOLDER = "xray"
LATEST = "latest.json"
MAX_FLAGGED = 50  # flagged steps kept per job process: a run that alerts at every step keeps its first ones
INTERVAL = 1.0  # seconds between two copies of unflagged steps, at least
BUDGET = 100  # ... and at least this many times what the last copy took (≤ 1 % of the job's time)
# The tensors a family's X-ray reads from a collated batch (xray_labels, the attention mask).
KEYS = ("input_ids", "attention_mask", "labels", "start_positions", "end_positions")


@dataclass
class Offered:
    """One optimizer step as the job saw it: its micro-batches as the forward passes received them (tensors,
    not copies), the train rows they hold, and what batches.jsonl recorded for it."""

    step: int
    record_hash: str
    loss: float | None
    batches: list[dict[str, Any]]
    positions: list[int]
    sizes: list[int]  # rows per micro-batch


class Snapshots:
    """The job's side: offered every trained step, keeps the ones that are due."""

    def __init__(
        self, run_dir: str | os.PathLike[str], task: str, tokenizer: Any, prep: Any, resumed_at: int = 0
    ) -> None:
        self.folder = Path(run_dir) / FOLDER
        self.run = Path(run_dir).name
        self.task, self.tok, self.prep = task, tokenizer, prep
        self._due = 0.0  # monotonic() from which an unflagged step is kept again
        self._flagged = 0
        self._broken = False  # writing failed once: the viewer rebuilds instead, no retry at every step
        self._skipped: Offered | None = None  # the last step offered and not kept, for flush()
        # A resumed job trains the steps after its checkpoint again. The last copy would pass for the last step
        # and goes; a flagged step's copy stays while the step trains again on the same batch (the sentinel
        # does not flag a replayed step twice: its copy is the only one), and goes when the batch differs.
        _remove(self.folder / LATEST)
        try:
            self._replayed = {n: p for p in self.folder.glob("step-*.json") if (n := _step_of(p)) > resumed_at}
        except OSError:
            self._replayed = {}

    def offer(self, o: Offered, flagged: bool) -> None:
        earlier = self._replayed.pop(o.step, None)
        if earlier is not None:
            copy = _read(earlier)
            if copy is None or copy.recorded_hash != o.record_hash:
                _remove(earlier)
        if self._broken or not o.batches or len(o.batches) != len(o.sizes) or sum(o.sizes) != len(o.positions):
            return
        keep_step = flagged and self._flagged < MAX_FLAGGED
        now = monotonic()
        if not keep_step and now < self._due:
            self._skipped = o
            return
        self._skipped = None
        began = time.perf_counter()
        try:
            data = json.dumps(dataclasses.asdict(self._build(o)), separators=(",", ":")).encode()
            self.folder.mkdir(exist_ok=True)
            if keep_step:
                self._flagged += 1
                _write(self.folder / f"step-{o.step}.json", data)
            _write(self.folder / LATEST, data)
        except Exception as exc:  # a copy is a convenience: training goes on without it
            self._broken = True
            log.warning("the batch X-ray copy of step %s was not kept: %s: %s", o.step, type(exc).__name__, exc)
            _remove(self.folder / LATEST)  # no copy rather than one that would pass for the last step from now on
            return
        self._due = now + max(INTERVAL, BUDGET * (time.perf_counter() - began))

    def flush(self) -> None:
        """Training ended (finished or stopped): keep its last step, which x opens on a finished run."""
        if self._skipped is not None:
            self._due = 0.0
            self.offer(self._skipped, flagged=False)

    def _build(self, o: Offered) -> BatchXray:
        chunks, begin = [], 0
        for size, batch in zip(o.sizes, o.batches):
            cpu = {k: v.detach().to("cpu") for k, v in batch.items() if k in KEYS and hasattr(v, "detach")}
            chunks.append((o.positions[begin : begin + size], cpu))
            begin += size
        return assemble(
            self.task,
            self.tok,
            self.prep,
            chunks,
            run=self.run,
            step=o.step,
            recorded_hash=o.record_hash,
            rebuilt_hash=None,
            loss=o.loss,
            kept_by_job=True,
        )


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _step_of(path: Path) -> int:
    number = path.stem.removeprefix("step-")
    return int(number) if number.isdigit() else -1


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a viewer reading meanwhile sees the old copy or the new one."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    with open(staged, "wb") as fh:
        fh.write(data)
    os.replace(staged, path)


def kept(run_dir: str | os.PathLike[str], step: int | None) -> BatchXray | None:
    """The job's copy of `step` (None: the last step kept), or None when there is none or it is unusable.

    A copy whose hash is not the one batches.jsonl now records for its step (a resumed attempt trained the
    step again) is not the batch the weights came from: None."""
    folder = Path(run_dir) / FOLDER
    x = _read(folder / (LATEST if step is None else f"step-{step}.json"))
    if x is None and step is not None:
        x = _read(folder / LATEST)
        x = x if x is not None and x.step == step else None
    if x is None:
        return None
    from tui_hf.core.training.xray import BATCHES, tail_records

    recorded = {rec["step"]: rec for rec in tail_records(Path(run_dir) / BATCHES)}.get(x.step)
    if recorded is not None and recorded.get("hash") != x.recorded_hash:
        return None
    x.run = Path(run_dir).name  # the folder's name now (a run copied or renamed)
    return x


def _read(path: Path) -> BatchXray | None:
    try:
        raw = json.loads(path.read_bytes())
        rows = [XrayRow(**row) for row in raw.pop("rows")]
        x = BatchXray(rows=rows, **raw)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # absent, torn by a crash in an older version, or from another version's fields
    if not re.fullmatch(r"[0-9a-f+]+", str(x.recorded_hash or "")) or not isinstance(x.step, int):
        return None
    return x


def with_check(copy: BatchXray | None, rebuilt: BatchXray) -> BatchXray:
    """What to show once the batch is rebuilt: the rebuild when it matches (or there is no copy of that very
    batch); when it differs, the job's copy, which is what was trained, with the rebuild's verdict."""
    if copy is None or rebuilt.matches or rebuilt.recorded_hash != copy.recorded_hash or copy.step != rebuilt.step:
        return rebuilt
    copy.rebuilt_hash, copy.problems, copy.ids_only = rebuilt.rebuilt_hash, list(rebuilt.problems), rebuilt.ids_only
    return copy
