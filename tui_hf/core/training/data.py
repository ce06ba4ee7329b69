"""Training data for the job: the checked files (or a hub dataset) as tokenized `datasets` splits.

Local files are read by the same reader that validated them (`datafile.records`), through
`datasets.Dataset.from_generator`, so the columns, cells and labels that train are the ones that were
checked; pandas never re-guesses them. Batched `map` tokenizes. A stop request is honoured while the rows
are read and while they are tokenized: the job leaves at once instead of finishing the preparation.
"""

from __future__ import annotations

import threading
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
from tui_hf.core.training.preflight import DataPlan
from tui_hf.core.training.spec import TrainSpec

READER_VERSION = 2  # part of the dataset cache key: bump when what the reader yields changes
SOURCE_ROW = "source_row"  # the row's line in its data file (its index in a hub split)
INDEX = "tuihf_index"  # the row's position in the train split: what a step's batch is rebuilt from
_stop: threading.Event | None = None  # the job's stop flag, read by the generator and the tokenizer map


def _check_stop() -> None:
    if _stop is not None and _stop.is_set():
        raise Cancelled("stopped while preparing the data")


def _rows(path: str, size: int, mtime_ns: int, task: str, text_column: str, label_column: str,
          version: int) -> Any:
    """The checked rows of a data file, in the task's own columns (the file's size and time key the cache)."""
    csv_cell = path.lower().endswith(".csv")
    seen: dict[Any, str] = {}
    for number, rec in records(path, _stop):
        row = clean_record(task, rec, text_column, label_column, At(path, number), csv_cell, seen)
        row[SOURCE_ROW] = number  # where the row is in the file, for the batch X-ray
        yield row


def _from_file(spec: TrainSpec, path: str) -> Any:
    import datasets

    st = Path(path).stat()
    d = spec.data
    try:
        return datasets.Dataset.from_generator(
            _rows, gen_kwargs={"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "task": spec.task,
                               "text_column": d.text_column, "label_column": d.label_column,
                               "version": READER_VERSION})
    except Exception as exc:  # datasets wraps what the generator raised
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (Cancelled, DataError)):
            raise cause from None
        _check_stop()
        raise


def _from_hub(spec: TrainSpec) -> tuple[Any, list[str]]:
    """A hub dataset in the task's columns, and its label names (a ClassLabel's, else the values')."""
    import datasets

    from tui_hf.core.training.preflight import hub_data_problem

    d = spec.data
    why = hub_data_problem(spec)
    if why:
        raise SpecError(why)
    raw = datasets.load_dataset(d.train, split=d.hub_split)
    needed = [d.text_column] + ([d.label_column] if spec.task != "causal-lm" else [])
    missing = [c for c in needed if c not in raw.column_names]
    if missing:
        raise SpecError(f"{d.train}: no column {missing[0]!r}; columns are {', '.join(raw.column_names)}")
    names: list[str] = []
    if spec.task != "causal-lm":
        feature = raw.features[d.label_column]
        names = list(getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
                     or [])

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        _check_stop()
        out: dict[str, list[Any]] = {}
        if spec.task == "token-classification":
            out["tokens"] = [[str(w) for w in words] for words in batch[d.text_column]]
            out["tags"] = [[names[t] if names else label_key(t) for t in tags] for tags in batch[d.label_column]]
        else:
            out["text"] = [str(t) for t in batch[d.text_column]]
            if spec.task != "causal-lm":
                out["label"] = [names[v] if names else label_key(v) for v in batch[d.label_column]]
        return out

    converted = raw.map(convert, batched=True, remove_columns=raw.column_names)
    converted = converted.add_column(SOURCE_ROW, list(range(len(converted))))
    if spec.task != "causal-lm" and not names:
        column = converted["tags"] if spec.task == "token-classification" else converted["label"]
        flat = {t for tags in column for t in tags} if spec.task == "token-classification" else set(column)
        names = order_labels(flat)
    return converted, names


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
            from tui_hf.core.training.xray import batch_hash

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
        train, hub_labels = _from_hub(spec)
        splits = {"train": train}
        labels = labels or hub_labels
    raw = datasets.DatasetDict(splits)
    if len(raw["train"]) == 0:
        raise SpecError("the train data is empty")
    if "validation" not in raw and d.validation_fraction > 0:
        split = raw["train"].train_test_split(test_size=d.validation_fraction, seed=spec.seed)
        raw = datasets.DatasetDict({"train": split["train"], "validation": split["test"]})
    return raw, labels


def prepare(spec: TrainSpec, tokenizer: Any, plan: DataPlan, stop: threading.Event | None = None) -> Prepared:
    from transformers import (
        DataCollatorForLanguageModeling,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
    )

    raw, labels = load_raw(spec, plan, stop)
    d = spec.data
    index = {name: i for i, name in enumerate(labels)}
    if spec.task == "text-classification":
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            _check_stop()
            enc = tokenizer(batch["text"], truncation=True, max_length=d.max_length)
            enc["labels"] = [index[v] for v in batch["label"]]
            return enc
        collator: Any = DataCollatorWithPadding(tokenizer)
    elif spec.task == "token-classification":
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            _check_stop()
            enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=d.max_length)
            all_labels = []
            for i, tags in enumerate(batch["tags"]):
                previous, row = None, []
                for word in enc.word_ids(i):
                    # Only a word's first sub-token carries its tag; the rest are ignored by the loss.
                    row.append(-100 if word is None or word == previous else index[tags[word]])
                    previous = word
                all_labels.append(row)
            enc["labels"] = all_labels
            return enc
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            _check_stop()
            return tokenizer(batch["text"], truncation=True, max_length=d.max_length)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    try:
        tokenized = {name: split.map(encode, batched=True, remove_columns=[
            c for c in split.column_names if not (name == "train" and c == SOURCE_ROW)]) for name, split in raw.items()}
    except Exception:
        _check_stop()  # a stop raised inside map may come back wrapped
        raise
    train = tokenized["train"]
    if len(train) == 0:
        raise SpecError("the train data is empty after tokenization")
    train = train.add_column(INDEX, list(range(len(train))))
    # Tokens per sample from a bounded sample: reading a whole column of a large set would fill memory.
    lengths = [len(ids) for ids in train.select(range(min(len(train), 5000)))["input_ids"]]
    return Prepared(train, tokenized.get("validation"), RowCollator(collator), labels, sum(lengths) / len(lengths),
                    eval_raw=raw.get("validation"), train_raw=raw["train"])
