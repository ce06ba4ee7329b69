"""The batch X-ray: what the model received at any step, rebuilt on demand and checked against training.

While training, each optimizer step appends one line to runs/<id>/batches.jsonl (about 100-200 bytes):

    {"step": 12, "rows": [181, 3, 77, ...], "hash": "9f2c...", "loss": 0.6931, "supervised": 16, "tokens": 402}

`rows` are positions in the train split (absent when the rows are unknown, as in a script's own Trainer),
`hash` is a digest of the input ids and the labels the forward pass received (`"hash_v": 2`; a record
without it, from an older version, covers the input ids only). `xray(run_dir, step)` rebuilds that batch
from the data file, the tokenizer and the collator, and compares its hash with the recorded one: a changed
data file (a text or a label), tokenizer or collator shows as a mismatch rather than as a plausible but
wrong picture.

Lines are written whole (like events.jsonl); a resumed job that repeats steps appends them again, and the
last line for a step wins (it is the one the surviving weights saw).
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.errors import Cancelled, RunStateError, SpecError
from tui_hf.core.training.digest import HASH_VERSION, batch_hash
from tui_hf.core.training.events import repair_tail
from tui_hf.core.training.storage import storage_error

BATCHES = "batches.jsonl"


class BatchLog:
    """Appends one whole line per step to batches.jsonl (the job's side)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / BATCHES
        try:
            repair_tail(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, f"cannot write {self.path}") from None

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            if os.write(self._fd, data) != len(data):
                raise OSError(28, "No space left on device")
        except OSError as exc:
            try:
                os.ftruncate(self._fd, end)
            except OSError:
                pass
            raise storage_error(exc, f"cannot write {self.path}") from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_batches(run_dir: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """step -> the last record written for it; torn or foreign lines are skipped."""
    out: dict[int, dict[str, Any]] = {}
    try:
        raw = (Path(run_dir) / BATCHES).read_bytes()
    except OSError:
        return out
    for line in raw.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int):
            out[rec["step"]] = rec
    return out


@dataclass
class XrayRow:
    position: int  # in the train split
    source_row: int | None  # the line in the data file (the index in a hub split)
    tokens: list[str]
    input_ids: list[int]
    attention: list[int]  # 1 for a real token, 0 for padding
    trained: list[bool]  # per position: does the loss see it (its label is not -100)
    labels: list[str | None]  # per position: the label name it is trained towards (token tasks)
    label: str | None  # the row's class (text classification)
    length: int  # real tokens (no padding)
    decoder: list[str] | None = None  # seq2seq: the target tokens the decoder is trained to write


@dataclass
class BatchXray:
    run: str
    step: int
    task: str
    rows: list[XrayRow]
    padded_length: int
    tokens: int  # real tokens in the batch
    supervised: int  # positions (token tasks) or rows (classification) the loss trains on
    supervised_share: float
    recorded_hash: str | None
    rebuilt_hash: str | None  # None: not rebuilt (yet), as for a job's copy not yet checked against the data
    loss: float | None = None
    problems: list[str] = field(default_factory=list)
    ids_only: bool = False  # recorded in the older format: the hash covers input ids, not labels
    micro_batches: int = 1  # gradient accumulation: the forward passes this optimizer step summed
    kept_by_job: bool = False  # the rows are the job's own copy of the batch (snapshots.py), not a rebuild

    @property
    def matches(self) -> bool:
        return self.recorded_hash is not None and self.recorded_hash == self.rebuilt_hash


def supervised_count(task: str, labels: Any) -> int:
    """What the loss trains on: rows (classification) or positions (token tasks) whose label is not -100.
    A causal LM predicts each token from the ones before it, so its first position never counts."""
    from tui_hf.core.training.families import FAMILIES

    if labels.dim() == 2 and task in FAMILIES and FAMILIES[task].shifted:
        labels = labels[:, 1:]
    return int((labels != -100).sum())


# The last run X-rayed: its tokenizer and tokenized data, with what they were built from. Loading the
# tokenizer and tokenizing the data take seconds; the next step, or the same one again, takes milliseconds.
_PREPARED: dict[Path, tuple[tuple[Any, ...], tuple[Any, Any]]] = {}
# Held while the cache is checked and filled: a viewer's warm-up and an X-ray asked for meanwhile would
# otherwise both pay the seconds of preparing; the X-ray waits for the warm-up and takes what it made.
_PREPARING = threading.Lock()


def _inputs_key(run_dir: Path, spec: Any) -> tuple[Any, ...]:
    """What a rebuilt batch depends on, as file identities: any edit to the spec, the data plan, the data
    files or a local model's tokenizer makes a new key, and the batch is rebuilt from the files again."""
    from tui_hf.core.training.data import DATA_PLAN
    from tui_hf.core.training.runs import SPEC

    def ident(path: Any) -> Any:
        if not path:
            return None
        try:
            st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return str(path)  # a hub id: named, not a file
        return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)

    model = Path(str(spec.model))
    tokenizer_files = sorted(model.glob("tokenizer*")) + sorted(model.glob("*vocab*")) if model.is_dir() else []
    return (
        ident(run_dir / SPEC),
        ident(run_dir / DATA_PLAN),
        ident(spec.data.train),
        ident(spec.data.validation),
        str(spec.model),
        tuple(ident(p) for p in tokenizer_files),
    )


def _prepared(run_dir: Path, spec: Any, stop: threading.Event | None = None) -> tuple[Any, Any] | None:
    """The run's (tokenizer, tokenized data), from the cache while its files are unchanged. None when `stop`
    was set while another preparation held the lock; Cancelled when it is set while reading the data."""
    from tui_hf.core.training.data import prepare, run_plan
    from tui_hf.core.training.engine import load_tokenizer_for

    with _PREPARING:
        key = _inputs_key(run_dir, spec)  # after the wait: the files as they are now
        cached = _PREPARED.get(run_dir)
        if cached is not None and cached[0] == key:
            return cached[1]
        if stop is not None and stop.is_set():
            return None
        # With the split the run trains on (kept when it went on with changed data).
        plan = run_plan(spec, run_dir, stop)
        _, tok = load_tokenizer_for(spec)
        prep = prepare(spec, tok, plan, stop)
        _PREPARED.clear()  # one run at a time: a large data set is not held twice
        _PREPARED[run_dir] = (key, (tok, prep))
        return tok, prep


def tail_records(path: Path) -> list[dict[str, Any]]:
    """The whole records in the last 4 KB of batches.jsonl, in file order: a long run's file is megabytes."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(fh.seek(0, os.SEEK_END) - 4096, 0))
            tail = fh.read()
    except OSError:
        return []
    out = []
    for line in tail.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # the first line is usually cut by the seek
        if isinstance(rec, dict) and isinstance(rec.get("step"), int):
            out.append(rec)
    return out


def warm(run_dir: str | os.PathLike[str], stop: threading.Event | None = None) -> bool:
    """Prepare what xray() needs for this run (the imports, the tokenizer, the tokenized data), so that the
    first X-ray a viewer opens takes a fraction of a second. True when the cache holds the run afterwards.

    A viewer calls it in a thread once the run is on screen; `stop` set (another run chosen, the viewer
    quitting) gives up between the steps of reading and tokenizing the data. Errors propagate: the caller
    drops them, and the X-ray itself reports them when asked for."""
    from tui_hf.core.training.runs import SPEC
    from tui_hf.core.training.spec import TrainSpec

    run_dir = Path(run_dir)
    tail = tail_records(run_dir / BATCHES)
    if not tail or not isinstance(tail[-1].get("rows"), list):  # nothing to rebuild (a script's Trainer)
        return False
    spec = TrainSpec.load(run_dir / SPEC)
    # The imports are most of the wait (about 2 s of 2.6 here), and a viewer that quits waits for this thread:
    # one library at a time, so that quitting waits for one import at most.
    for name in ("torch", "transformers", "datasets"):
        if stop is not None and stop.is_set():
            return False
        importlib.import_module(name)
    try:
        return _prepared(run_dir, spec, stop) is not None
    except Cancelled:
        return False


def xray(run_dir: str | os.PathLike[str], step: int) -> BatchXray:
    """Rebuild the batch trained at `step`. SpecError/RunStateError when the step was not recorded."""
    from tui_hf.core.training.runs import SPEC
    from tui_hf.core.training.spec import TrainSpec

    run_dir = Path(run_dir)
    records = read_batches(run_dir)
    if not records and (run_dir / BATCHES).is_file() and (run_dir / BATCHES).stat().st_size:
        raise RunStateError(f"{run_dir.name}'s {BATCHES} holds no readable step record: the file is damaged")
    if not records:
        raise RunStateError(
            f"{run_dir.name} recorded no batches (record_batches was off, or it has not trained a step yet)"
        )
    rec = records.get(step)
    if rec is None:
        raise SpecError(
            f"{run_dir.name} has no record of step {step}: steps {min(records)}-{max(records)} were recorded"
        )
    if not isinstance(rec.get("rows"), list):
        raise RunStateError(
            f"step {step} of {run_dir.name} was recorded without its rows (a script's Trainer): "
            "only its hash and loss are known"
        )
    if not rec["rows"] or not all(type(i) is int and i >= 0 for i in rec["rows"]):  # noqa: E721 (bool is not a row)
        raise RunStateError(
            f"step {step} of {run_dir.name} is damaged in {BATCHES}: its rows must be row numbers "
            "from 0, not " + json.dumps(rec["rows"])[:60]
        )
    spec = TrainSpec.load(run_dir / SPEC)
    tok, prep = _prepared(run_dir, spec)
    positions = [int(i) for i in rec["rows"]]
    if positions and max(positions) >= len(prep.train):
        raise SpecError(
            f"step {step} used train rows up to {max(positions)} but the data now has "
            f"{len(prep.train)}: the data file changed since training"
        )
    # An accumulated step trained several micro-batches, each collated (and padded) on its own.
    micro = rec.get("micro")
    sizes = (
        [int(n) for n in micro]
        if isinstance(micro, list)
        and micro
        and all(type(n) is int and n > 0 for n in micro)  # noqa: E721
        and sum(micro) == len(positions)
        else [len(positions)]
    )
    ids_only = rec.get("hash_v") != HASH_VERSION  # an older record: compared as it was made
    chunks, hashes, begin = [], [], 0
    for size in sizes:
        chunk = positions[begin : begin + size]
        begin += size
        batch = prep.collator([prep.train[i] for i in chunk])
        ids = batch["input_ids"]
        hashes.append(batch_hash(ids) if ids_only else batch_hash(ids, batch.get("labels")))  # as the job hashed it
        chunks.append((chunk, batch))
    x = assemble(
        spec.task,
        tok,
        prep,
        chunks,
        run=run_dir.name,
        step=step,
        recorded_hash=rec.get("hash"),
        rebuilt_hash="+".join(hashes),
        loss=_loss(rec.get("loss")),
        ids_only=ids_only,
    )
    if not x.matches:
        x.problems.append(
            f"the rebuilt batch differs from the one trained (hash {x.rebuilt_hash} vs {x.recorded_hash}): the "
            "data file (a text or a label), tokenizer or collator changed since step {step}".replace(
                "{step}", str(step)
            )
        )
    return x


def _loss(value: Any) -> float | None:
    """A recorded loss: a number, or for a NaN/inf step its name ("nan", "inf": JSON has no such numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def assemble(task: str, tok: Any, prep: Any, chunks: list[tuple[list[int], Any]], **known: Any) -> BatchXray:
    """The X-ray of a step's collated micro-batches, each given with the train positions it holds, whether the
    batch was rebuilt from the data or kept by the job that trained it (CPU tensors either way); `known`: the
    fields that come from elsewhere (run, step, hashes, loss...)."""
    from tui_hf.core.training.data import SOURCE_ROW
    from tui_hf.core.training.families import FAMILIES

    fam = FAMILIES[task]
    rows: list[XrayRow] = []
    padded, supervised, slots = 0, 0, 0
    for chunk, batch in chunks:
        features = [prep.train[i] for i in chunk]
        ids, labels = batch["input_ids"], fam.xray_labels(batch)
        padded = max(padded, int(ids.shape[1]))
        supervised += supervised_count(task, labels)
        chunk_rows = _rows(chunk, features, ids, labels, batch.get("attention_mask"), tok, fam, prep, SOURCE_ROW)
        # Of the positions that could train: the input's real tokens, or for a decoder its target slots.
        real_here = sum(row.length for row in chunk_rows)
        slots += labels.numel() if fam.decodes else real_here if labels.dim() == 2 else len(chunk_rows)
        rows += chunk_rows
    return BatchXray(
        task=task,
        rows=rows,
        padded_length=padded,
        tokens=sum(row.length for row in rows),
        supervised=supervised,
        supervised_share=supervised / max(slots, 1) if rows else 0.0,
        micro_batches=len(chunks),
        **known,
    )


def _rows(
    positions: list[int],
    features: list[Any],
    ids: Any,
    labels: Any,
    mask: Any,
    tok: Any,
    fam: Any,
    prep: Any,
    source: str,
) -> list[XrayRow]:
    """One collated micro-batch's rows, token by token."""
    rows = []
    for r, feature in enumerate(features):
        row_ids = ids[r].tolist()
        attention = mask[r].tolist() if mask is not None else [1] * len(row_ids)
        tokens = tok.convert_ids_to_tokens(row_ids)
        decoder = None
        if fam.decodes:  # the labels are the decoder's target, not positions of the input
            trained = [False] * len(row_ids)
            names = [None] * len(row_ids)
            label = None
            decoder = tok.convert_ids_to_tokens([x for x in labels[r].tolist() if x != -100])
        elif labels.dim() == 2:
            lab = labels[r].tolist()
            trained = [x != -100 for x in lab]
            if fam.xray_mark:  # the span a question-answering window trains towards
                names: list[str | None] = [fam.xray_mark if x != -100 else None for x in lab]
            elif fam.shifted:
                trained[0] = False
                names = [None] * len(lab)
            elif fam.labelled:
                names = [prep.labels[x] if x != -100 and x < len(prep.labels) else None for x in lab]
            else:  # a masked LM: the token the masked position is trained towards
                names = [tok.convert_ids_to_tokens(x) if x != -100 else None for x in lab]
            label = None
        else:
            trained = [False] * len(row_ids)
            names = [None] * len(row_ids)
            value = int(labels[r])
            label = prep.labels[value] if 0 <= value < len(prep.labels) else None
        rows.append(
            XrayRow(
                position=positions[r],
                source_row=feature.get(source),
                tokens=tokens,
                input_ids=row_ids,
                attention=attention,
                trained=trained,
                labels=names,
                label=label,
                length=int(sum(attention)),
                decoder=decoder,
            )
        )
    return rows


def format_xray(x: BatchXray, width: int = 100) -> str:
    """The X-ray as plain text: one block per row, token by token."""
    check = "matches the trained batch" if x.matches else "DOES NOT MATCH the trained batch"
    hashes = f"hash {x.rebuilt_hash}" if x.matches else f"trained {x.recorded_hash}, rebuilt {x.rebuilt_hash}"
    if not x.matches:
        check += (
            "; shown: the batch as the job trained it (its own copy)"
            if x.kept_by_job
            else "; shown: the data as it is now, not what trained"
        )
    if x.ids_only:
        check += (
            "'s token ids; recorded in an older format, its hash does not cover labels, so a label edited "
            "since is not detected"
            if x.matches
            else " (recorded in an older format: token ids only)"
        )
    loss = f", loss {x.loss:.4f}" if x.loss is not None else ""
    from tui_hf.core.training.families import FAMILIES

    fam = FAMILIES.get(x.task)
    per_position = fam.per_position if fam is not None else x.task != "text-classification"
    what = "positions" if per_position else "rows"
    lines = [
        f"{x.run} step {x.step}: {len(x.rows)} rows × {x.padded_length} tokens, {x.tokens} real tokens, "
        f"{x.supervised} supervised {what} ({x.supervised_share:.0%}){loss}"
        + (f", in {x.micro_batches} accumulated micro-batches" if x.micro_batches > 1 else ""),
        f"rebuilt from the data: {check} ({hashes})"
        if x.rebuilt_hash is not None
        else f"the batch as the job trained it (its own copy), not checked against the data (hash {x.recorded_hash})",
    ]
    lines += [f"problem: {p}" for p in x.problems]
    for i, row in enumerate(x.rows):
        where = f"line {row.source_row}" if row.source_row is not None else f"row {row.position}"
        head = f"[{i}] {where} (train position {row.position}), {row.length} tokens, {row.attention.count(0)} padding"
        if row.label is not None:
            head += f", label {row.label}"
        lines.append(head)
        parts = []
        for j, token in enumerate(row.tokens):
            if not row.attention[j]:
                continue
            mark = token
            if row.labels[j] is not None:
                mark += f"/{row.labels[j]}"
            elif per_position and not row.trained[j] and row.decoder is None:
                mark = f"({token})"  # not trained on
            parts.append(mark)
        text, current = [], "    "
        for part in parts:
            if len(current) + len(part) + 1 > width and current.strip():
                text.append(current)
                current = "    "
            current += part + " "
        text.append(current)
        lines += [t.rstrip() for t in text]
        if row.decoder is not None:
            lines.append("    → " + " ".join(row.decoder))
    if per_position and fam is not None and fam.xray_note:
        lines.append(fam.xray_note)
    return "\n".join(lines)
