"""Training data: CSV / JSON / JSON Lines files or hub datasets, checked, split and tokenized.

`check` reads only the first rows with the standard library, so a missing file or column is reported in
a fraction of a second, before torch or datasets are imported. `prepare` does the real work through
`datasets` (memory-mapped, batched `map`) in the job's own process.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError
from tui_hf.core.training.spec import TrainSpec

FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json"}
PEEK_ROWS = 2000


@dataclass
class Preview:
    path: str
    columns: list[str]
    rows: list[dict[str, Any]]  # up to PEEK_ROWS, as read
    more: bool  # the file has rows beyond those


def is_file_ref(ref: str) -> bool:
    return Path(ref).suffix.lower() in FORMATS or os.path.exists(ref)


def peek(path: str, limit: int = PEEK_ROWS) -> Preview:
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"no data file at {path}")
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise SpecError(f"{path}: unsupported format {suffix or '(none)'}; use .csv, .json or .jsonl")
    rows: list[dict[str, Any]] = []
    more = False
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            if suffix == ".csv":
                reader = csv.DictReader(fh)
                for row in reader:
                    if len(rows) == limit:
                        more = True
                        break
                    rows.append(row)
                columns = list(reader.fieldnames or [])
            else:
                text = fh.read()
                stripped = text.lstrip()
                if stripped.startswith("["):
                    records = json.loads(text)
                else:
                    records = [json.loads(line) for line in text.splitlines() if line.strip()]
                if not all(isinstance(r, dict) for r in records):
                    raise SpecError(f"{path}: expected one JSON object per record")
                more = len(records) > limit
                rows = records[:limit]
                columns = list(dict.fromkeys(k for r in rows for k in r))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise SpecError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    return Preview(str(p), columns, rows, more)


def label_names(values: list[Any]) -> list[str]:
    """Class names for label values: integers keep their order, strings are sorted."""
    flat: list[Any] = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    ints = []
    for v in flat:
        if isinstance(v, bool):
            break
        if isinstance(v, int) or (isinstance(v, str) and v.strip().lstrip("-").isdigit()):
            ints.append(int(v))
        elif isinstance(v, float) and v.is_integer():
            ints.append(int(v))
        else:
            break
    else:
        if ints and min(ints) < 0:
            raise SpecError("integer labels must be 0 or more")
        return [str(i) for i in range(max(ints) + 1)] if ints else []
    if any(isinstance(v, float) for v in flat):
        raise SpecError("labels are real numbers: regression is not supported; use class names or integers")
    return sorted({str(v) for v in flat})


def check(spec: TrainSpec) -> list[str]:
    """Every problem with the data that can be seen from the files' first rows."""
    problems = list(spec.problems())
    d = spec.data
    files = [("train", d.train)] + ([("validation", d.validation)] if d.validation else [])
    for role, ref in files:
        if not is_file_ref(ref):
            if role == "validation":
                problems.append("validation must be a local file")
            continue  # a hub dataset: checked when it loads
        try:
            preview = peek(ref)
        except SpecError as exc:
            problems.append(str(exc))
            continue
        if not preview.rows:
            problems.append(f"{ref}: the {role} data is empty")
            continue
        needed = [d.text_column] + ([d.label_column] if spec.task != "causal-lm" else [])
        missing = [c for c in needed if c not in preview.columns]
        if missing:
            problems.append(f"{ref}: no column {', '.join(map(repr, missing))}; columns are "
                            f"{', '.join(map(repr, preview.columns))}")
            continue
        if spec.task == "token-classification":
            sample = preview.rows[0]
            if not isinstance(sample[d.text_column], list) or not isinstance(sample[d.label_column], list):
                problems.append(f"{ref}: token classification needs lists of words and tags per row (JSON)")
                continue
        if spec.task != "causal-lm":
            try:
                names = label_names([r[d.label_column] for r in preview.rows])
            except SpecError as exc:
                problems.append(f"{ref}: {exc}")
                continue
            if role == "train" and len(names) < 2 and not preview.more:
                problems.append(f"{ref}: only one label ({', '.join(names)}): a classifier needs two or more")
        if role == "train" and not d.validation and len(preview.rows) < 2 and d.validation_fraction > 0:
            problems.append(f"{ref}: too few rows to split off validation data")
    return problems


@dataclass
class Prepared:
    train: Any  # datasets.Dataset, tokenized
    eval: Any  # datasets.Dataset or None
    collator: Any
    labels: list[str]  # class names (empty for causal-lm)
    tokens_per_sample: float


def load_raw(spec: TrainSpec) -> Any:
    """A DatasetDict with train and (when there is any) validation."""
    import datasets

    from tui_hf.core.hub import is_offline

    datasets.disable_progress_bars()
    d = spec.data
    if is_file_ref(d.train):
        files = {"train": d.train}
        if d.validation:
            files["validation"] = d.validation
        raw = datasets.load_dataset(FORMATS[Path(d.train).suffix.lower()], data_files=files)
    else:
        if is_offline(spec.offline):
            raise SpecError(f"{d.train!r} is not a local file and the Hugging Face Hub cannot be reached: "
                            "use a CSV / JSON / JSON Lines file, or go online")
        raw = datasets.DatasetDict({"train": datasets.load_dataset(d.train, split=d.hub_split)})
    if len(raw["train"]) == 0:
        raise SpecError("the train data is empty")
    if "validation" not in raw and d.validation_fraction > 0:
        split = raw["train"].train_test_split(test_size=d.validation_fraction, seed=spec.seed)
        raw = datasets.DatasetDict({"train": split["train"], "validation": split["test"]})
    return raw


def prepare(spec: TrainSpec, tokenizer: Any, raw: Any = None) -> Prepared:
    from transformers import (
        DataCollatorForLanguageModeling,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
    )

    raw = raw if raw is not None else load_raw(spec)
    d = spec.data
    columns = raw["train"].column_names
    for needed in [d.text_column] + ([d.label_column] if spec.task != "causal-lm" else []):
        if needed not in columns:
            raise SpecError(f"no column {needed!r} in the train data; columns are {', '.join(columns)}")
    labels: list[str] = []
    if spec.task != "causal-lm":
        feature = raw["train"].features[d.label_column]
        names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
        values = [v for split in raw.values() for v in split[d.label_column]]
        labels = list(names) if names else label_names(values)
        index = {name: i for i, name in enumerate(labels)}

        def to_id(v: Any) -> int:
            if names:
                return int(v)
            return index[str(int(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)]

    if spec.task == "text-classification":
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            enc = tokenizer([str(t) for t in batch[d.text_column]], truncation=True, max_length=d.max_length)
            enc["labels"] = [to_id(v) for v in batch[d.label_column]]
            return enc
        collator: Any = DataCollatorWithPadding(tokenizer)
    elif spec.task == "token-classification":
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            enc = tokenizer(batch[d.text_column], is_split_into_words=True, truncation=True, max_length=d.max_length)
            all_labels = []
            for i, tags in enumerate(batch[d.label_column]):
                previous, row = None, []
                for word in enc.word_ids(i):
                    # Only a word's first sub-token carries its tag; the rest are ignored by the loss.
                    row.append(-100 if word is None or word == previous else to_id(tags[word]))
                    previous = word
                all_labels.append(row)
            enc["labels"] = all_labels
            return enc
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            return tokenizer([str(t) for t in batch[d.text_column]], truncation=True, max_length=d.max_length)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    tokenized = {name: split.map(encode, batched=True, remove_columns=split.column_names)
                 for name, split in raw.items()}
    lengths = [len(ids) for ids in tokenized["train"]["input_ids"]]
    if not lengths:
        raise SpecError("the train data is empty after tokenization")
    return Prepared(tokenized["train"], tokenized.get("validation"), collator, labels,
                    sum(lengths) / len(lengths))
