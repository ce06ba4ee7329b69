"""What a finetuning job is: one JSON-serialisable spec, checked before anything starts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from tui_hf.core.errors import SpecError

TrainTask = Literal["text-classification", "token-classification", "causal-lm"]
TRAIN_TASKS = ("text-classification", "token-classification", "causal-lm")
ENGINES = ("trainer", "native")


@dataclass
class DataSpec:
    train: str  # a CSV / JSON / JSON Lines file, or a hub dataset id
    validation: str | None = None  # a second file; otherwise split off the train data
    text_column: str = "text"  # for token-classification: a column of word lists
    label_column: str = "label"  # for token-classification: a column of tag lists; unused for causal-lm
    validation_fraction: float = 0.2
    max_length: int = 128
    hub_split: str = "train"  # for a hub dataset


@dataclass
class TrainSpec:
    data: DataSpec
    model: str = "embedded"
    task: TrainTask = "text-classification"
    engine: str = "trainer"
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # a fraction of the steps (< 1) or a number of steps
    max_grad_norm: float = 1.0
    seed: int = 42
    logging_steps: int = 5
    max_steps: int = -1  # > 0 stops early (smoke runs, benchmarks)
    device: str = "auto"
    replace_head: bool = False  # allow a trained head with other labels to be replaced
    offline: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise SpecError(f"unknown spec keys: {', '.join(sorted(unknown))}")
        if "data" not in raw:
            raise SpecError("the spec needs a data section with at least a train file")
        data_known = {f.name for f in fields(DataSpec)}
        bad = set(raw["data"]) - data_known
        if bad:
            raise SpecError(f"unknown data keys: {', '.join(sorted(bad))}")
        return cls(**{**raw, "data": DataSpec(**raw["data"])})

    @classmethod
    def load(cls, path: str | Path) -> TrainSpec:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"no spec file at {path}") from None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(raw)

    def problems(self) -> list[str]:
        """Settings that cannot work, independent of the data (which data.check looks at)."""
        out = []
        if self.task not in TRAIN_TASKS:
            out.append(f"task must be one of {', '.join(TRAIN_TASKS)}")
        if self.engine not in ENGINES:
            out.append(f"engine must be one of {', '.join(ENGINES)}")
        if self.epochs <= 0 and self.max_steps <= 0:
            out.append("epochs must be above 0")
        if self.batch_size < 1:
            out.append("batch_size must be at least 1")
        if not 0 < self.learning_rate < 1:
            out.append("learning_rate must be in (0, 1)")
        if self.warmup < 0:
            out.append("warmup must be 0 or more")
        if not 0 <= self.data.validation_fraction < 1:
            out.append("validation_fraction must be in [0, 1)")
        if self.data.max_length < 8:
            out.append("max_length must be at least 8")
        return out
