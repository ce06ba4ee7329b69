"""Everything that can be known about a run before it starts, checked before a run directory exists.

The spec's settings, the whole data file (a streaming pass), and the model as its files describe it: that
the reference resolves (a directory that exists, a hub id that is cached when offline), that it loads
without running code (no auto_map unless trust_remote_code, safetensors unless allow_pickle), that
max_length fits its positions, that a trained head's labels are the data's, and that a named device exists.
All problems are reported together; torch is imported only when a specific accelerator is named.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError, TuiHfError
from tui_hf.core.training.datafile import DataError, DataReport, is_file_ref, order_labels, validate_file
from tui_hf.core.training.spec import TrainSpec

DATA_PLAN = "data.json"
HEADS = {"text-classification": "SequenceClassification", "token-classification": "TokenClassification",
         "causal-lm": "CausalLM"}
_GENERIC = re.compile(r"LABEL_(\d+)")


@dataclass(frozen=True)
class Problem:
    text: str
    key: str | None = None  # the spec setting that would allow it (the CLI shows its flag)


class RunRefused(SpecError):
    """A run that cannot start; `problems` lists each reason (str() joins them)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.text for p in problems))


@dataclass
class DataPlan:
    """The checked data and the label order the run trains with (persisted as runs/<id>/data.json)."""

    reports: list[DataReport] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def unchanged(self) -> bool:
        return all(r.unchanged() for r in self.reports)

    def to_json(self) -> str:
        return json.dumps({"reports": [asdict(r) for r in self.reports], "labels": self.labels,
                           "warnings": self.warnings}, indent=1)

    @classmethod
    def load(cls, path: Path) -> DataPlan | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls([DataReport(**r) for r in raw["reports"]], list(raw["labels"]), list(raw["warnings"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def validate_data(spec: TrainSpec, stop: threading.Event | None = None) -> DataPlan:
    """Every row of the train (and validation) file. Raises DataError at the first problem."""
    d = spec.data
    plan = DataPlan()
    if not is_file_ref(d.train):
        if d.validation:
            raise DataError("a validation file goes with a train file: a hub dataset is split from its own rows")
        return plan  # a hub dataset: checked by the job when it loads
    train = validate_file(d.train, spec.task, d.text_column, d.label_column, "train", stop)
    plan.reports.append(train)
    plan.warnings += train.warnings
    if d.validation:
        if not is_file_ref(d.validation):
            raise DataError(f"validation must be a local .csv, .json or .jsonl file, not {d.validation!r}")
        val = validate_file(d.validation, spec.task, d.text_column, d.label_column, "validation", stop)
        plan.reports.append(val)
        unseen = sorted(set(val.label_counts) - set(train.label_counts))
        if unseen:
            raise DataError(f"{d.validation}: label {unseen[0]!r} never occurs in the train data {d.train}; "
                            "the model cannot learn it")
    elif d.validation_fraction > 0 and train.rows < 2:
        raise DataError(f"{d.train}: one row cannot be split into train and validation data; add rows, give a "
                        "validation file, or set validation_fraction to 0")
    if spec.task != "causal-lm":
        if len(train.label_counts) < 2:
            only = ", ".join(train.label_counts)
            raise DataError(f"{d.train}: only one label ({only}): a classifier needs two or more")
        plan.labels = order_labels(train.label_counts)
    return plan


# -- the model, from its files -------------------------------------------------------------------------


def model_dir(spec: TrainSpec) -> tuple[Any, Path | None]:
    """The resolved reference and the local directory holding its files (None: an uncached hub id)."""
    from tui_hf.core.hub import cached_snapshot, parse_ref, resolve

    resolved = resolve(parse_ref(spec.model), offline=spec.offline)
    if resolved.ref.kind != "hub":
        return resolved, Path(resolved.source)
    snapshot = cached_snapshot(resolved.source)
    return resolved, Path(snapshot).parent if snapshot else None


def head_labels(config: dict[str, Any]) -> list[str]:
    id2label = config.get("id2label") or {}
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
    if len(lowered) != len(head) or not {d.lower() for d in data} <= set(lowered):
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
        problems.append(Problem(f"model: {spec.model} needs its own Python code to load (auto_map in its "
                                "config.json); allow it with trust_remote_code, only if you trust its source",
                                "trust_remote_code"))
    # A checkpoint being resumed, not this directory, supplies the weights then: still the same trust rule.
    has_st, has_pickle = _weights(directory)
    if resolved.ref.kind != "hub" and not has_st and has_pickle and not spec.allow_pickle:
        problems.append(Problem(f"model: {spec.model} has only pickle weights (pytorch_model.bin), which can run "
                                "code when loaded; allow them with allow_pickle, only if you trust its source",
                                "allow_pickle"))
    elif resolved.ref.kind != "hub" and not has_st and not has_pickle:
        problems.append(Problem(f"model: {directory} has no weights (model.safetensors)"))
    positions = next((config[k] for k in ("max_position_embeddings", "n_positions", "max_sequence_length")
                      if isinstance(config.get(k), int)), None)
    if positions and spec.data.max_length > positions:
        problems.append(Problem(f"max_length {spec.data.max_length} is more than {spec.model}'s {positions} "
                                f"positions; use {positions} or less"))
    labels = data_labels
    head = HEADS.get(spec.task, "")
    trained = [a for a in (config.get("architectures") or []) if isinstance(a, str) and a.endswith(head)]
    if spec.task != "causal-lm" and trained and data_labels and not spec.replace_head:
        names = head_labels(config)
        kept = reconcile_labels(names, data_labels) if names else None
        if kept is None:
            problems.append(Problem(
                f"{spec.model} has a trained {head} head for {len(names)} labels ({', '.join(names[:8])}) but the "
                f"data's labels are {', '.join(data_labels[:8])}{'...' if len(data_labels) > 8 else ''}; set "
                "replace_head to train a new head (its trained weights are dropped)", "replace_head"))
        else:
            labels = kept
    return problems, labels


def check_device(spec: TrainSpec, nproc: int) -> list[Problem]:
    problems = []
    if nproc < 1:
        problems.append(Problem(f"nproc must be 1 or more, not {nproc}"))
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
            problems.append(Problem(f"nproc {nproc} needs {nproc} GPUs; this machine has "
                                    f"{torch.cuda.device_count()}"))
    return problems


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
