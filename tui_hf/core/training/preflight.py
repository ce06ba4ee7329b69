"""Everything that can be known about a run before it starts, checked before a run directory exists.

The spec's settings, the whole data file (a streaming pass), and the model as its files describe it: that
the reference resolves (a directory that exists, a hub id that is cached when offline), that it loads
without running code (no auto_map unless trust_remote_code, safetensors unless allow_pickle), that its
weight files are whole and its tokenizer files there, that it can be the causal LM a causal-lm run trains,
that max_length fits its positions, that a trained head's labels are the data's, and that a named device
exists. All problems are reported together. Labels that are probably a mistake (two spellings of a class,
numbers beside names, a class the validation split takes whole) are warnings on the plan: the run may go on.
torch is imported only when a specific accelerator is named, for a causal LM, or to explain a refusal.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.card import causal_lm_problem
from tui_hf.core.errors import Problem, RunRefused, TuiHfError
from tui_hf.core.training.datafile import (
    MANY_LABELS,
    DataError,
    DataReport,
    dataset_report,
    is_file_ref,
    is_int_text,
    is_saved_dataset,
    load_saved,
    order_labels,
    pick_splits,
    split_label_names,
    validate_file,
)
from tui_hf.core.training.families import FAMILIES
from tui_hf.core.training.spec import TrainSpec

DATA_PLAN = "data.json"
HEADS = {task: fam.head for task, fam in FAMILIES.items()}
_GENERIC = re.compile(r"LABEL_(\d+)")


@dataclass
class DataPlan:
    """The checked data and the label order the run trains with (persisted as runs/<id>/data.json)."""

    reports: list[DataReport] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The data the run started on (the files' content hashes, the split's validation rows), recorded by the
    # job at its first start and compared on resume: see data.fingerprint. None until then.
    fingerprint: dict[str, Any] | None = None

    def unchanged(self) -> bool:
        return all(r.unchanged() for r in self.reports)

    def to_json(self) -> str:
        return json.dumps(
            {
                "reports": [asdict(r) for r in self.reports],
                "labels": self.labels,
                "warnings": self.warnings,
                "fingerprint": self.fingerprint,
            },
            indent=1,
        )

    @classmethod
    def load(cls, path: Path) -> DataPlan | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            fingerprint = raw.get("fingerprint")
            return cls(
                [DataReport(**r) for r in raw["reports"]],
                list(raw["labels"]),
                list(raw["warnings"]),
                fingerprint if isinstance(fingerprint, dict) else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def hub_data_problem(spec: TrainSpec) -> str | None:
    """Why the hub dataset spec.data.train cannot be loaded now, or None. Asked before a run is made and again
    by the job (a resume may come later, offline)."""
    from tui_hf.core.hub import is_offline

    if is_offline(spec.offline):
        return (
            f"{spec.data.train!r} is not a local file and the Hugging Face Hub cannot be reached: use a CSV / "
            "JSON / JSON Lines file, or go online"
        )
    return None


def validate_data(spec: TrainSpec, stop: threading.Event | None = None) -> DataPlan:
    """Every row of the train (and validation) file. Raises DataError at the first problem."""
    d = spec.data
    plan = DataPlan()
    if (
        spec.task not in ("causal-lm", "seq2seq", "question-answering")
        and d.text_column.strip() == d.label_column.strip()
    ):
        raise DataError(
            f"text_column and label_column are both {d.text_column!r}: the model would be trained to "
            "answer with its own input; set label_column to the column of classes"
        )
    if is_saved_dataset(d.train):
        return _validate_saved(spec)
    if not is_file_ref(d.train):
        if d.validation:
            raise DataError("a validation file goes with a train file: a hub dataset is split from its own rows")
        why = hub_data_problem(spec)
        if why:
            raise DataError(why)
        return plan  # a hub dataset: its rows are checked by the job when it loads
    # Each row's class, for the split check (a pointer a row): only where a random split will be made.
    row_labels: list[str] | None = (
        [] if spec.task == "text-classification" and not d.validation and d.validation_fraction > 0 else None
    )
    text_column, label_column, pair_column = d.reader_columns(spec.task)
    train = validate_file(
        d.train, spec.task, text_column, label_column, "train", stop, row_labels, pair_column, d.target_column
    )
    plan.reports.append(train)
    plan.warnings += train.warnings
    if d.validation:
        if not is_file_ref(d.validation):
            raise DataError(f"validation must be a local .csv, .json or .jsonl file, not {d.validation!r}")
        val = validate_file(
            d.validation,
            spec.task,
            text_column,
            label_column,
            "validation",
            stop,
            pair_column=pair_column,
            target_column=d.target_column,
        )
        plan.reports.append(val)
        unseen = sorted(set(val.label_counts) - set(train.label_counts))
        if unseen:
            raise DataError(
                f"{d.validation}: label {unseen[0]!r} never occurs in the train data {d.train}; "
                "the model cannot learn it"
            )
    elif d.validation_fraction > 0:
        # datasets' train_test_split holds out ceil(fraction x rows) and fails when either side is empty.
        held_out = math.ceil(d.validation_fraction * train.rows)
        if train.rows < 2 or train.rows - held_out < 1:
            raise DataError(
                f"{d.train}: validation_fraction {d.validation_fraction:g} of {train.rows} row(s) leaves "
                f"{max(train.rows - held_out, 0)} to train on; lower it, add rows, give a validation "
                "file, or set validation_fraction to 0"
            )
    if FAMILIES[spec.task].labelled:
        if len(train.label_counts) < 2:
            only = ", ".join(train.label_counts)
            raise DataError(f"{d.train}: only one label ({only}): a classifier needs two or more")
        plan.labels = order_labels(train.label_counts)
        plan.warnings += label_warnings(train.label_counts, d.train, d.label_column)
        if row_labels:
            plan.warnings += split_warnings(spec, row_labels, train.label_counts)
    return plan


def _validate_saved(spec: TrainSpec) -> DataPlan:
    """A directory saved with save_to_disk: every row of the split(s) it trains and validates on."""
    d = spec.data
    if d.validation:
        raise DataError(
            f"{d.train} is a saved dataset: its own validation split is used (or one is split off); "
            "a validation file goes with a train file"
        )
    splits = pick_splits(load_saved(d.train), d.hub_split, d.train)
    plan = DataPlan()
    for role, (name, split) in splits.items():
        plan.reports.append(dataset_report(split, d, spec.task, d.train, name, role))
    train = plan.reports[0]
    if len(plan.reports) == 1 and d.validation_fraction > 0:
        held_out = math.ceil(d.validation_fraction * train.rows)
        if train.rows < 2 or train.rows - held_out < 1:
            raise DataError(
                f"{d.train}: validation_fraction {d.validation_fraction:g} of {train.rows} row(s) leaves "
                f"{max(train.rows - held_out, 0)} to train on; lower it, add rows, or set validation_fraction to 0"
            )
    if FAMILIES[spec.task].labelled:
        if len(train.label_counts) < 2:
            raise DataError(
                f"{d.train}: only one label ({', '.join(train.label_counts)}): a classifier needs two or more"
            )
        if len(plan.reports) > 1:
            unseen = sorted(set(plan.reports[1].label_counts) - set(train.label_counts))
            if unseen:
                raise DataError(
                    f"{d.train}: label {unseen[0]!r} of the validation split never occurs in the train split; "
                    "the model cannot learn it"
                )
        # A ClassLabel's names keep their ids (MRPC's 0 is not_equivalent), as the hub path keeps them.
        plan.labels = split_label_names(splits["train"][1], d.label_column) or order_labels(train.label_counts)
        plan.warnings += label_warnings(train.label_counts, d.train, d.label_column)
    return plan


def label_warnings(counts: dict[str, int], path: str, column: str) -> list[str]:
    """Labels a run can train on that are probably a mistake in the data, one line each."""
    names = list(counts)
    out = []
    by_case: dict[str, list[str]] = {}
    for name in names:
        by_case.setdefault(name.casefold(), []).append(name)
    twins = [sorted(group) for group in by_case.values() if len(group) > 1]
    if twins:
        shown = "; ".join(" and ".join(repr(n) for n in group) for group in twins[:3])
        out.append(
            f"{path}: labels that differ only in case are separate classes ({shown}); write each class "
            "one way if they are the same"
        )
    zero_and_o = "0" in counts and "O" in counts
    if zero_and_o:
        out.append(
            f"{path}: both '0' (zero, {counts['0']:,} times) and 'O' (the letter, {counts['O']:,} times) "
            "are labels, two separate classes; is one of them a typo?"
        )
    numbers = [n for n in order_labels(names) if is_int_text(n) and not (zero_and_o and n == "0")]
    words = [n for n in order_labels(names) if not is_int_text(n) and not (zero_and_o and n == "O")]
    if numbers and words:
        out.append(
            f"{path}: labels mix numbers ({', '.join(numbers[:4])}) and names ({', '.join(words[:4])}), "
            "each a class of its own; is a class written both as its id and as its name?"
        )
    sentences = [n for n in names if len(n.split()) >= 4 or len(n) >= 40]
    if len(names) <= MANY_LABELS and len(sentences) >= 10 and 2 * len(sentences) >= len(names):
        out.append(
            f"{path}: {len(sentences):,} of the {len(names):,} labels in {column!r} look like text (e.g. "
            f"{sentences[0][:50]!r}); is {column!r} the column of classes?"
        )
    return out


def split_warnings(spec: TrainSpec, row_labels: list[str], counts: dict[str, int]) -> list[str]:
    """Classes the validation split takes whole: the model never sees a row of them while training.

    The split is worked out with the call the job makes (datasets' train_test_split, same size, fraction and
    seed: it depends on nothing else), on the row numbers alone; only when some class is small enough to
    fit in the validation part.
    """
    d = spec.data
    held_out = math.ceil(d.validation_fraction * len(row_labels))
    if min(counts.values()) > held_out or 2 * len(counts) > len(row_labels):
        return []  # every class keeps a row; or most "classes" are single rows (label_warnings speaks to that)
    import datasets

    try:
        split = datasets.Dataset.from_dict({"row": list(range(len(row_labels)))}).train_test_split(
            test_size=d.validation_fraction, seed=spec.seed
        )
    except ValueError:  # a split datasets refuses: the job says why
        return []
    kept = {row_labels[i] for i in split["train"]["row"]}
    lost = [name for name in order_labels(counts) if name not in kept]
    if not lost:
        return []
    shown = ", ".join(f"{name!r} ({counts[name]} row{'s' if counts[name] > 1 else ''})" for name in lost[:4])
    shown += f" and {len(lost) - 4} more" if len(lost) > 4 else ""
    left = f"; the training part holds only {next(iter(kept))!r}" if len(kept) == 1 else ""
    return [
        f"{d.train}: the validation split ({d.validation_fraction:g} of the rows, seed {spec.seed}) takes every "
        f"row of {shown}{left}: the model cannot learn {'it' if len(lost) == 1 else 'them'}; add rows, give a "
        "validation file, or change the seed"
    ]


# -- the model, from its files -------------------------------------------------------------------------


def model_dir(spec: TrainSpec) -> tuple[Any, Path | None]:
    """The resolved reference and the local directory holding its files (None: an uncached hub id)."""
    from tui_hf.core.hub import parse_ref, resolve

    # No download here: an uncached hub model is fetched by the job, and checked then.
    resolved = resolve(parse_ref(spec.model), offline=spec.offline, fetch=False)
    return resolved, resolved.root


def head_labels(config: dict[str, Any]) -> list[str]:
    id2label = config.get("id2label") or {}
    if not id2label:
        # transformers 5 leaves the default names out of config.json: num_labels (2 unless set) LABEL_i.
        n = config.get("num_labels")
        return [f"LABEL_{i}" for i in range(n if isinstance(n, int) and 0 < n <= MANY_LABELS else 2)]
    try:
        return [str(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0]))]
    except (TypeError, ValueError):
        return []


def reconcile_labels(head: list[str], data: list[str]) -> list[str] | None:
    """The label order to keep a trained head with: its ids, named as the data names them. None: they differ.

    A head whose names are the data's (ignoring case) or a superset of them is kept; so is an unnamed head
    (LABEL_0...) when the data's labels are its ids 0..n-1.
    """
    if all(_GENERIC.fullmatch(h) for h in head):
        ids = [str(i) for i in range(len(head))]
        return ids if set(data) <= set(ids) else None
    lowered = {h.lower(): h for h in head}
    data_lowered = {d.lower() for d in data}
    # Two data labels one head name would stand for ('POSITIVE' and 'positive') cannot both keep it.
    if len(lowered) != len(head) or len(data_lowered) != len(data) or not data_lowered <= set(lowered):
        return None
    by_lower = {d.lower(): d for d in data}
    return [by_lower.get(h.lower(), h) for h in head]


def _weights(directory: Path) -> tuple[bool, bool]:
    names = [p.name for p in directory.iterdir()] if directory.is_dir() else []
    safetensors = any(n.endswith(".safetensors") or n == "model.safetensors.index.json" for n in names)
    pickle = any(re.fullmatch(r"pytorch_model(-\d+-of-\d+)?\.bin|pytorch_model\.bin\.index\.json", n) for n in names)
    return safetensors, pickle


def check_model(spec: TrainSpec, data_labels: list[str]) -> tuple[list[Problem], list[str]]:
    """Problems with the model for this run, and the label order to train with."""
    try:
        resolved, directory = model_dir(spec)
    except TuiHfError as exc:
        return [Problem(f"model: {exc}")], data_labels
    if directory is None:
        return [], data_labels  # a hub model that will be downloaded: checked when it loads
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [Problem(f"model: {directory} has no readable config.json")], data_labels
    if not isinstance(config, dict):
        return [Problem(f"model: {directory}/config.json is not a JSON object")], data_labels
    problems: list[Problem] = []
    if config.get("auto_map") and not spec.trust_remote_code:
        problems.append(
            Problem(
                f"model: {spec.model} needs its own Python code to load (auto_map in its "
                "config.json); allow it with trust_remote_code, only if you trust its source",
                "trust_remote_code",
            )
        )
    # A checkpoint being resumed, not this directory, supplies the weights then: still the same trust rule.
    has_st, has_pickle = _weights(directory)
    if resolved.ref.kind != "hub" and not has_st and has_pickle and not spec.allow_pickle:
        problems.append(
            Problem(
                f"model: {spec.model} has only pickle weights (pytorch_model.bin), which can run "
                "code when loaded; allow them with allow_pickle, only if you trust its source",
                "allow_pickle",
            )
        )
    elif resolved.ref.kind != "hub" and not has_st and not has_pickle:
        problems.append(Problem(f"model: {directory} has no weights (model.safetensors)"))
    if resolved.ref.kind != "hub" or resolved.local_files_only:  # the files this machine has are all there is
        from tui_hf.core.models import damaged_weights, missing_tokenizer

        for why in (damaged_weights(directory), missing_tokenizer(directory, config)):
            if why:
                problems.append(Problem(f"model: {why}"))
    if spec.task == "causal-lm":
        why = causal_lm_problem(spec.model, directory, config, "trained as causal-lm")
        if why:
            problems.append(Problem(f"model: {why}"))
    if spec.task == "seq2seq":
        why = _language_problem(spec, directory)
        if why:
            problems.append(Problem(f"model: {why}"))
    if spec.task == "question-answering":
        why = _question_problem(spec, directory)
        if why:
            problems.append(Problem(why))
    positions = next(
        (
            config[k]
            for k in ("max_position_embeddings", "n_positions", "max_sequence_length")
            if isinstance(config.get(k), int)
        ),
        None,
    )
    if positions and spec.data.max_length > positions:
        problems.append(
            Problem(
                f"max_length {spec.data.max_length} is more than {spec.model}'s {positions} "
                f"positions; use {positions} or less"
            )
        )
    labels = data_labels
    head = HEADS.get(spec.task, "")
    trained = [a for a in (config.get("architectures") or []) if isinstance(a, str) and a.endswith(head)]
    if spec.task != "causal-lm" and trained and data_labels and not spec.replace_head:
        names = head_labels(config)
        kept = reconcile_labels(names, data_labels) if names else None
        if kept is None:
            problems.append(
                Problem(
                    f"{spec.model} has a trained {head} head for {len(names)} labels ({', '.join(names[:8])}) but the "
                    f"data's labels are {', '.join(data_labels[:8])}{'...' if len(data_labels) > 8 else ''}; set "
                    "replace_head to train a new head (its trained weights are dropped)",
                    "replace_head",
                )
            )
        else:
            labels = kept
    return problems, labels


def _language_problem(spec: TrainSpec, directory: Path) -> str | None:
    """A seq2seq run's languages against the codes the model's tokenizer marks them with (mBART, NLLB, M2M100)."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.families.seq2seq import set_languages

    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except Exception:
        return None  # the tokenizer check above reports a tokenizer that cannot load
    try:
        set_languages(tok, spec.data)
    except SpecError as exc:
        return str(exc)
    return None


def _question_problem(spec: TrainSpec, directory: Path) -> str | None:
    """A question of the data files too long for a window with this model's tokenizer: the job would refuse it
    only once the run exists (a hub dataset's questions are checked by the job)."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.datafile import records
    from tui_hf.core.training.families.question_answering import check_questions

    d = spec.data
    files = [f for f in (d.train, d.validation) if f and is_file_ref(f)]
    if not files:
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except Exception:
        return None  # the tokenizer check above reports a tokenizer that cannot load
    for path in files:
        try:
            rows = [(line, str(rec.get(d.question_column, ""))) for line, rec in records(path)]
        except (TuiHfError, OSError, ValueError):
            return None  # the data check reports an unreadable file
        try:
            check_questions(tok, [q for _, q in rows], d, [f"{path}, line {line}" for line, _ in rows])
        except SpecError as exc:
            return str(exc)
    return None


def check_device(spec: TrainSpec, nproc: int) -> list[Problem]:
    problems = []
    if nproc < 1:
        problems.append(Problem(f"nproc must be 1 or more, not {nproc}"))
    why = precision_problem(spec)
    if why:
        problems.append(Problem(why))
    if spec.device in ("auto", "cpu"):
        return problems
    from tui_hf.core.device import pick_device
    from tui_hf.core.errors import DeviceError

    try:
        pick_device(spec.device)
    except DeviceError as exc:
        problems.append(Problem(f"device: {exc}"))
        return problems
    if spec.device.startswith("cuda") and nproc > 1:
        import torch

        if torch.cuda.device_count() < nproc:
            problems.append(Problem(f"nproc {nproc} needs {nproc} GPUs; this machine has {torch.cuda.device_count()}"))
    return problems


def precision_problem(spec: TrainSpec) -> str | None:
    """Why the device cannot train in the spec's precision (fp16 on a CPU, bf16 on an old GPU), if it cannot."""
    from tui_hf.core.device import pick_device
    from tui_hf.core.errors import DeviceError
    from tui_hf.core.training.precision import PRECISIONS, resolve_precision

    if spec.precision == "auto" or spec.precision not in PRECISIONS:
        return None  # auto always resolves; an unknown name is spec.problems()'s
    try:
        resolve_precision(spec.precision, pick_device(spec.device).device)
    except DeviceError as exc:
        return str(exc)
    return None


def check(spec: TrainSpec, nproc: int = 1, stop: threading.Event | None = None) -> DataPlan:
    """Everything checkable before a run starts. Returns the data plan; raises RunRefused listing problems."""
    problems = [Problem(p) for p in spec.problems()]
    plan = DataPlan()
    if not problems:
        try:
            plan = validate_data(spec, stop)
        except DataError as exc:
            problems.append(Problem(str(exc)))
        model_problems, plan.labels = check_model(spec, plan.labels)
        problems += model_problems
    problems += check_device(spec, nproc)
    if problems:
        raise RunRefused(problems)
    return plan
