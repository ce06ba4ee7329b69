"""Training data for the job: the checked files (or a hub dataset) as tokenized `datasets` splits.

Local files are read by the same reader that validated them (`datafile.records`), through
`datasets.Dataset.from_generator`, so the columns, cells and labels that train are the ones that were
checked; pandas never re-guesses them. Batched `map` tokenizes. A stop request is honoured while the rows
are read and while they are tokenized: the job leaves at once instead of finishing the preparation.

The data a run started on is fingerprinted at its first start (each file's content hash, rows and label
counts; the validation rows split off, by a digest of their text) and kept in the run's data.json. A resume
compares the files with it: changed data is refused (DataChanged, saying what changed) unless the user goes
on knowingly, and then the original split is kept, so rows the run validated on never become training rows.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import Cancelled, SpecError
from tui_hf.core.training.datafile import (  # noqa: F401  (re-exported: the preview API)
    FORMATS,
    At,
    DataError,
    Preview,
    clean_record,
    is_file_ref,
    label_key,
    order_labels,
    peek,
    records,
)
from tui_hf.core.training.preflight import DATA_PLAN, DataPlan
from tui_hf.core.training.spec import TrainSpec

READER_VERSION = 2  # part of the dataset cache key: bump when what the reader yields changes
SOURCE_ROW = "source_row"  # the row's line in its data file (its index in a hub split)
INDEX = "tuihf_index"  # the row's position in the train split: what a step's batch is rebuilt from
_stop: threading.Event | None = None  # the job's stop flag, read by the generator and the tokenizer map


def _check_stop() -> None:
    if _stop is not None and _stop.is_set():
        raise Cancelled("stopped while preparing the data")


def _rows(
    path: str,
    size: int,
    mtime_ns: int,
    task: str,
    text_column: str,
    label_column: str,
    version: int,
    pair_column: str | None = None,
    target_column: str | None = None,
) -> Any:
    """The checked rows of a data file, in the task's own columns (the file's size and time key the cache)."""
    csv_cell = path.lower().endswith(".csv")
    seen: dict[Any, str] = {}
    for number, rec in records(path, _stop):
        row = clean_record(
            task, rec, text_column, label_column, At(path, number), csv_cell, seen, pair_column, target_column
        )
        row[SOURCE_ROW] = number  # where the row is in the file, for the batch X-ray
        yield row


def _from_file(spec: TrainSpec, path: str) -> Any:
    import datasets

    st = Path(path).stat()
    text_column, label_column, pair_column = spec.data.reader_columns(spec.task)
    try:
        return datasets.Dataset.from_generator(
            _rows,
            gen_kwargs={
                "path": str(path),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "task": spec.task,
                "text_column": text_column,
                "label_column": label_column,
                "version": READER_VERSION,
                "pair_column": pair_column,
                "target_column": spec.data.target_column,
            },
        )
    except Exception as exc:  # datasets wraps what the generator raised
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (Cancelled, DataError)):
            raise cause from None
        _check_stop()
        raise


def _from_hub(spec: TrainSpec) -> tuple[dict[str, Any], list[str]]:
    """A hub dataset (with its config, as load_dataset("glue", "mrpc")) or a directory saved with save_to_disk:
    the train split asked for and its own validation split when it has one, in the task's columns, and the label
    names (a ClassLabel's, else the values')."""
    import datasets

    from tui_hf.core.training.datafile import (
        check_split_columns,
        clean_batch,
        is_saved_dataset,
        load_saved,
        pick_splits,
        split_label_names,
        split_where,
    )
    from tui_hf.core.training.families import family
    from tui_hf.core.training.preflight import hub_data_problem

    d = spec.data
    if is_saved_dataset(d.train):
        loaded = load_saved(d.train)
    else:
        why = hub_data_problem(spec)
        if why:
            raise SpecError(why)
        loaded = dict(datasets.load_dataset(d.train, d.hub_config))
    splits = pick_splits(loaded, d.hub_split, d.train)
    labelled = family(spec.task).labelled
    text_column, label_column, pair_column = d.reader_columns(spec.task)  # QA: question, answers, context
    names = split_label_names(splits["train"][1], label_column) if labelled else []
    out = {}
    for role, (split_name, raw) in splits.items():
        where = split_where(d.train, split_name)
        check_split_columns(raw, spec.task, text_column, label_column, pair_column, where, d.target_column)
        split_names = split_label_names(raw, label_column) if labelled else []

        def convert(
            batch: dict[str, list[Any]], at: list[int], where: str = where, own: list[str] = split_names
        ) -> dict[str, list[Any]]:
            _check_stop()
            rows = clean_batch(
                batch, spec.task, text_column, label_column, pair_column, own, where, at[0], d.target_column
            )
            return {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}

        # The task's columns as plain strings: a "label" column left to inference keeps the ClassLabel it
        # replaces, and its names would come back as ids.
        text, words = datasets.Value("string"), datasets.List(datasets.Value("string"))
        wanted = (
            {"tokens": words, "tags": words}
            if spec.task == "token-classification"
            else {"question": text, "context": text, "answers": text}  # answers as JSON text, as a file's are
            if spec.task == "question-answering"
            else {"text": text, "target": text}
            if spec.task == "seq2seq"
            else {
                "text": text,
                **({"text_pair": text} if d.text_pair_column else {}),
                **({"label": text} if labelled else {}),
            }
        )
        converted = raw.map(
            convert,
            batched=True,
            with_indices=True,
            remove_columns=raw.column_names,
            features=datasets.Features(wanted),
        )
        out[role] = converted.add_column(SOURCE_ROW, list(range(len(converted))))
    if labelled and not names:
        column = out["train"]["tags"] if spec.task == "token-classification" else out["train"]["label"]
        flat = {t for tags in column for t in tags} if spec.task == "token-classification" else set(column)
        names = order_labels(flat)
    return out, names


@dataclass
class Prepared:
    train: Any  # datasets.Dataset, tokenized
    eval: Any  # datasets.Dataset or None
    collator: Any
    labels: list[str]  # class names in id order (empty for causal-lm)
    tokens_per_sample: float
    eval_raw: Any = None  # the validation rows before tokenization (text, label / tokens, tags)
    train_raw: Any = None


class RowCollator:
    """The task's collator, minus the bookkeeping columns; remembers which train rows went into each batch.

    `pending` holds (input hash, rows) per collated train batch, oldest first: the step's forward pass pairs
    its own input hash with it (a batch collated but never trained, as when resuming skips batches, is
    passed over instead of shifting every later step's rows).
    """

    def __init__(self, inner: Any) -> None:
        import collections

        self.inner = inner
        self.record = False
        self.pending: collections.deque[tuple[str, list[int]]] = collections.deque(maxlen=64)

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        rows = None
        if features and (INDEX in features[0] or SOURCE_ROW in features[0]):
            if INDEX in features[0]:
                rows = [int(f[INDEX]) for f in features]
            features = [{k: v for k, v in f.items() if k not in (INDEX, SOURCE_ROW)} for f in features]
        batch = self.inner(features)
        if self.record and rows is not None:
            from tui_hf.core.training.digest import batch_hash

            self.pending.append((batch_hash(batch["input_ids"], batch.get("labels")), rows))
        return batch


def load_raw(spec: TrainSpec, plan: DataPlan, stop: threading.Event | None = None) -> tuple[Any, list[str]]:
    """A DatasetDict with train and (when there is any) validation, and the labels in id order."""
    global _stop
    import datasets

    datasets.disable_progress_bars()
    _stop = stop
    d = spec.data
    labels = plan.labels
    if is_file_ref(d.train):
        splits = {"train": _from_file(spec, d.train)}
        if d.validation:
            splits["validation"] = _from_file(spec, d.validation)
    else:
        splits, hub_labels = _from_hub(spec)
        labels = labels or hub_labels
    raw = datasets.DatasetDict(splits)
    if len(raw["train"]) == 0:
        raise SpecError("the train data is empty")
    fp = plan.fingerprint
    if "validation" not in raw and d.validation_fraction > 0:
        if fp is not None and fp.get("kept") and isinstance(fp.get("validation_rows"), list):
            raw = _kept_split(raw["train"], fp["validation_rows"])
        else:
            split = raw["train"].train_test_split(test_size=d.validation_fraction, seed=spec.seed)
            raw = datasets.DatasetDict({"train": split["train"], "validation": split["test"]})
    if fp is None:
        plan.fingerprint = fingerprint(spec, plan, raw)
    return raw, labels


# -- the data a run started on ------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def row_key(value: Any) -> str:
    """A row's identity in the split: a digest of its input (text, or list of words), not of its label, so a
    row whose label was corrected is still the same row."""
    return hashlib.blake2b(json.dumps(value, ensure_ascii=False).encode(), digest_size=8).hexdigest()


def _inputs(split: Any) -> list[Any]:
    if "question" in split.column_names:  # a question with its context is one row's input
        return [list(qc) for qc in zip(split["question"], split["context"])]
    if "text_pair" in split.column_names:  # a pair is one row's input
        return [list(pair) for pair in zip(split["text"], split["text_pair"])]
    return split["tokens"] if "tokens" in split.column_names else split["text"]


def fingerprint(spec: TrainSpec, plan: DataPlan, raw: Any) -> dict[str, Any]:
    """What the run trains on now: each local file's hash, rows and labels, and the validation rows split off."""
    files = []
    for role in ("train", "validation"):
        path = getattr(spec.data, role)
        if not path or not is_file_ref(path):
            continue
        report = next((r for r in plan.reports if r.role == role), None)
        files.append(
            {
                "role": role,
                "path": str(path),
                "sha256": file_sha256(path),
                "rows": report.rows if report else None,
                "labels": dict(report.label_counts) if report else {},
            }
        )
    split_off = not spec.data.validation and "validation" in raw
    return {
        "files": files,
        "validation_rows": [row_key(v) for v in _inputs(raw["validation"])] if split_off else None,
        "kept": False,
    }


def _kept_split(train: Any, keys: list[str]) -> Any:
    """The split the run started with, on the current rows: those it validated on (by their input) stay
    validation rows, every other row trains. Rows keep their file order, so the split is the same each time."""
    import datasets

    wanted = Counter(keys)
    held, trained = [], []
    for i, value in enumerate(_inputs(train)):
        key = row_key(value)
        if wanted[key] > 0:
            wanted[key] -= 1
            held.append(i)
        else:
            trained.append(i)
    return datasets.DatasetDict({"train": train.select(trained), "validation": train.select(held)})


def _change(path: str, then: dict[str, Any], now: Any) -> str:
    before = then.get("rows")
    if isinstance(before, int) and before != now.rows:
        more = now.rows - before
        rows = (
            f"{abs(more):,} {'more' if more > 0 else 'fewer'} row{'s' if abs(more) > 1 else ''} ({before:,} "
            f"then, {now.rows:,} now)"
        )
    else:
        rows = f"the same number of rows ({now.rows:,}), their content edited"
    old = then.get("labels") if isinstance(then.get("labels"), dict) else {}
    moved = [
        f"{name} {old.get(name, 0):,} → {now.label_counts.get(name, 0):,}"
        for name in order_labels(set(old) | set(now.label_counts))
        if old.get(name, 0) != now.label_counts.get(name, 0)
    ]
    labels = f"; label counts {', '.join(moved[:4])}{' …' if len(moved) > 4 else ''}" if moved else ""
    return f"{path}: {rows}{labels}"


def data_changes(spec: TrainSpec, plan: DataPlan) -> list[str]:
    """How the data files differ from those the run started on (empty: the same, or nothing recorded)."""
    from tui_hf.core.training.datafile import validate_file

    fp = plan.fingerprint or {}
    d = spec.data
    out = []
    for then in fp.get("files") or []:
        role = then.get("role")
        path = getattr(d, role, None) if role in ("train", "validation") else None
        if not path:
            out.append(f"the {role} file {then.get('path')} is no longer the run's")
            continue
        try:
            if file_sha256(path) == then.get("sha256"):
                continue
        except OSError:
            out.append(f"{path}: gone")
            continue
        try:
            text_column, label_column, pair_column = d.reader_columns(spec.task)
            now = validate_file(
                path,
                spec.task,
                text_column,
                label_column,
                role,
                pair_column=pair_column,
                target_column=d.target_column,
            )
        except DataError as exc:
            out.append(f"{path}: changed, and no longer passes the data check ({exc})")
            continue
        out.append(_change(path, then, now))
    return out


def accept_changes(spec: TrainSpec, plan: DataPlan) -> None:
    """Go on with changed data: the files as they are now become the fingerprint, the original split stays."""
    old = plan.fingerprint or {}
    now = fingerprint(spec, plan, {})
    now["validation_rows"] = old.get("validation_rows")
    now["kept"] = True
    plan.fingerprint = now


def run_plan(spec: TrainSpec, run_dir: str | Path, stop: threading.Event | None = None) -> DataPlan:
    """A run's data plan: as recorded when its files are unchanged, else checked again; either way with the
    fingerprint of the data the run started on."""
    from tui_hf.core.training import preflight

    stored = DataPlan.load(Path(run_dir) / DATA_PLAN)
    plan = stored if stored is not None and stored.unchanged() else preflight.check(spec, stop=stop)
    if stored is not None:
        plan.fingerprint = stored.fingerprint
    return plan


def save_plan(run_dir: str | Path, plan: DataPlan) -> None:
    from tui_hf.core.training.storage import storage_error, write_atomic

    path = Path(run_dir) / DATA_PLAN
    try:
        write_atomic(path, plan.to_json())
    except OSError as exc:
        raise storage_error(exc, f"cannot write {path}") from None


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _encoder_key(spec: TrainSpec, tokenizer: Any, index: dict[str, int], fam: Any) -> str | None:
    """What the tokenized data depends on besides the raw rows, hashed in milliseconds: the tokenizer's own
    serialisation and settings, the data settings, the labels and the source of the code that encodes.

    `datasets` would otherwise name a map's result by pickling the encode function with the tokenizer in
    it, which takes 1-2 s a split: seconds at each job start and each batch X-ray. None (a tokenizer without
    a serialisation of its own) leaves the naming to `datasets`."""
    import inspect
    import sys
    from dataclasses import asdict

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    try:
        family_dir = Path(inspect.getsourcefile(type(fam)) or __file__).parent  # every family shares base.py
        sources = [Path(__file__), *sorted(family_dir.glob("*.py"))]
        code = [hashlib.sha256(f.read_bytes()).hexdigest() for f in sources]
        settings = [
            getattr(tokenizer, name, None)
            for name in ("padding_side", "truncation_side", "model_max_length", "special_tokens_map")
        ]
        # The backend keeps the truncation and padding of its last call: what this map asks for is in spec.data.
        serialised = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        return _digest(
            hashlib.sha256(json.dumps(serialised, sort_keys=True).encode()).hexdigest(),
            settings,
            type(tokenizer).__name__,
            spec.task,
            asdict(spec.data),
            sorted(index.items()),
            code,
            sys.modules["datasets"].__version__,
        )
    except Exception:  # anything unexpected: the slow naming, never a wrong cache
        return None


def prepare(spec: TrainSpec, tokenizer: Any, plan: DataPlan, stop: threading.Event | None = None) -> Prepared:
    from tui_hf.core.training.families import family

    fam = family(spec.task)
    raw, labels = load_raw(spec, plan, stop)
    d = spec.data
    index = {name: i for i, name in enumerate(labels)}
    fam.prepare_tokenizer(tokenizer)
    d = fam.encoding_data(spec, tokenizer)

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        _check_stop()
        return fam.group(fam.encode(tokenizer, batch, index, d), d)

    collator = fam.collator(tokenizer, spec)
    encoder_key = _encoder_key(spec, tokenizer, index, fam)
    try:
        # Rows cut into blocks no longer stand for one line of the file: their line is not kept.
        tokenized = {
            name: split.map(
                encode,
                batched=True,
                remove_columns=[
                    c for c in split.column_names if fam.groups or not (name == "train" and c == SOURCE_ROW)
                ],
                new_fingerprint=_digest(split._fingerprint, name, encoder_key) if encoder_key else None,
            )
            for name, split in raw.items()
        }
    except Exception:
        _check_stop()  # a stop raised inside map may come back wrapped
        raise
    train = tokenized["train"]
    if len(train) == 0:
        raise SpecError("the train data is empty after tokenization")
    train = train.add_column(INDEX, list(range(len(train))))
    # Tokens per sample from a bounded sample: reading a whole column of a large set would fill memory.
    lengths = [len(ids) for ids in train.select(range(min(len(train), 5000)))["input_ids"]]
    return Prepared(
        train,
        tokenized.get("validation"),
        RowCollator(collator),
        labels,
        sum(lengths) / len(lengths),
        eval_raw=raw.get("validation"),
        train_raw=raw["train"],
    )
