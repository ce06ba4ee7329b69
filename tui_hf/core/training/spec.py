"""What a finetuning job is: one JSON-serialisable spec, checked before anything starts.

A spec read from JSON is checked field by field against the types below, so `"epochs": "three"`, a null
data section or a list where an object belongs is one message naming the key, not a traceback later.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from tui_hf.core.errors import SpecError
from tui_hf.core.training.families import FAMILIES
from tui_hf.core.training.precision import PRECISIONS

TrainTask = Literal[
    "text-classification", "token-classification", "masked-lm", "causal-lm", "seq2seq", "question-answering"
]
TRAIN_TASKS = tuple(FAMILIES)
ENGINES = ("trainer", "native")


@dataclass
class DataSpec:
    train: str  # a CSV / JSON / JSON Lines file, or a hub dataset id
    validation: str | None = None  # a second file; otherwise split off the train data
    text_column: str = "text"  # for token-classification: a column of word lists
    text_pair_column: str | None = None  # text-classification of sentence pairs: the second text's column
    label_column: str = "label"  # for token-classification: a column of tag lists; unused for causal-lm
    validation_fraction: float = 0.2
    max_length: int = 128
    hub_split: str = "train"  # for a hub dataset or a saved one (its "validation" split validates when there is one)
    hub_config: str | None = None  # a hub dataset's configuration, as load_dataset("glue", "mrpc")
    label_all_tokens: bool = False  # token-classification: every sub-token trains on its word's tag (run_ner.py)
    whole_word_masking: bool = False  # masked-lm: a word's sub-tokens are masked together
    target_column: str | None = None  # seq2seq: the column the decoder learns to write (default "target")
    source_lang: str | None = None  # seq2seq translation: language codes, in the model's spelling (fr_XX...)
    target_lang: str | None = None
    source_prefix: str | None = None  # seq2seq: before each source ("summarize: "); None: the model's own

    # question-answering: the question, the passage and the SQuAD answers {"text": [...], "answer_start": [...]}
    # (empty lists: unanswerable); a long passage is cut into windows sharing doc_stride tokens.
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"
    doc_stride: int = 32

    def reader_columns(self, task: str) -> tuple[str, str, str | None]:
        """The (text, label, second text) columns the data reader checks: for question answering the
        question, the answers and the context."""
        if task == "question-answering":
            return self.question_column, self.answers_column, self.context_column
        return self.text_column, self.label_column, self.text_pair_column


@dataclass
class LoraSpec:
    """LoRA's settings (peft's LoraConfig): only small adapters train, the base model's weights stay frozen."""

    r: int = 8  # the adapters' rank
    alpha: float = 16.0  # their scale is alpha / r
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: peft's default for the architecture (all linear layers if none)

    def problems(self) -> list[str]:
        out = []
        if not 1 <= self.r <= 4096:
            out.append("lora.r must be a whole number from 1 to 4096")
        if not 0 < self.alpha <= MAX_NUMBER:
            out.append("lora.alpha must be above 0")
        if not 0 <= self.dropout < 1:
            out.append("lora.dropout must be in [0, 1)")
        names = self.target_modules
        if names is not None and (
            not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            out.append('lora.target_modules must be a list of module names, e.g. ["query", "value"], or null')
        return out


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
    trust_remote_code: bool = False  # allow a model that needs its own Python code (auto_map in its config)
    allow_pickle: bool = False  # allow a model with only pickle weights (pytorch_model.bin): unpickling runs code
    eval_steps: int = 0  # evaluate every N steps as well as after each epoch (0: after each epoch only)
    # The sentinel (see sentinel.py): what a job does on an alert, and its thresholds.
    sentinel: str = "warn"  # warn | save | stop | off
    spike_factor: float = 5.0
    grad_norm_factor: float = 10.0
    worse_evals: int = 3
    stall_factor: float = 10.0
    early_stopping_metric: str | None = None  # armed from the start (it can also be armed while training)
    early_stopping_patience: int = 3
    record_batches: bool = True  # per step: sample indices and an input hash, for the batch X-ray
    predictions: int = 4  # validation examples predicted and recorded at each evaluation (0: none)
    lora: LoraSpec | None = None  # train LoRA adapters instead of every weight (see LoraSpec)
    qlora: bool = False  # LoRA on a 4-bit base model (bitsandbytes): CUDA only
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (mixed precision: autocast, fp32 master weights)
    grad_accum: int = 1  # micro-batches per optimizer step (the effective batch is batch_size × grad_accum)
    grad_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more time

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "the spec") -> TrainSpec:
        """A spec from parsed JSON, every key and type checked. Raises SpecError naming each bad key."""
        if not isinstance(raw, dict):
            raise SpecError(f"{source} must be a JSON object ({{...}}), not {_kind(raw)}")
        if raw.get("extra", None) == {}:
            # Every spec.json written before `extra` was removed holds an empty one: those runs still load.
            raw = {k: v for k, v in raw.items() if k != "extra"}
        problems = _unknown(raw, cls, source, "")
        data = raw.get("data")
        if "data" not in raw or data is None:
            problems.append(
                f'{source}: data must be an object with at least a train file, e.g. "data": {{"train": "reviews.csv"}}'
            )
        elif not isinstance(data, dict):
            problems.append(f"{source}: data must be an object ({{...}}), not {_kind(data)}")
        else:
            problems += _unknown(data, DataSpec, source, "data.")
            if "train" not in data:
                problems.append(f"{source}: data.train is missing: the train data file (or hub dataset id)")
            problems += _typed(data, DataSpec, source, "data.")
        problems += _typed(raw, cls, source, "")
        lora = raw.get("lora")
        if lora is not None and not isinstance(lora, dict):
            problems.append(f'{source}: lora must be an object such as {{"r": 8}} or null, not {_kind(lora)}')
        elif lora is not None:
            problems += _unknown(lora, LoraSpec, source, "lora.") + _typed(lora, LoraSpec, source, "lora.")
        if problems:
            raise SpecError("; ".join(problems))
        values = {k: _coerce(cls, k, v) for k, v in raw.items() if k not in ("data", "lora")}
        if lora is not None:
            values["lora"] = LoraSpec(**{k: _coerce(LoraSpec, k, v) for k, v in lora.items()})
        return cls(data=DataSpec(**{k: _coerce(DataSpec, k, v) for k, v in data.items()}), **values)

    @classmethod
    def load(cls, path: str | Path) -> TrainSpec:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"no spec file at {path}") from None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise SpecError(f"{path}: nested too deep to be a spec") from None
        except UnicodeDecodeError:
            raise SpecError(f"{path} is not UTF-8 text") from None
        except OSError as exc:
            raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
        return cls.from_dict(raw, str(path))

    def problems(self) -> list[str]:
        """Settings that cannot work, independent of the data (which data.check looks at)."""
        out = []
        if isinstance(self.model, str) and not self.model.strip():
            out.append("model is empty: name a hub id, a model directory, or embedded")
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
        if self.weight_decay < 0:
            out.append("weight_decay must be 0 or more")
        if self.warmup < 0:
            out.append("warmup must be 0 or more")
        if self.max_grad_norm < 0:
            out.append("max_grad_norm must be 0 (no clipping) or more")
        if self.logging_steps < 1:
            out.append("logging_steps must be at least 1")
        from tui_hf.core.training.sentinel import POLICIES

        if self.sentinel not in POLICIES:
            out.append(f"sentinel must be one of {', '.join(POLICIES)}")
        if self.eval_steps < 0:
            out.append("eval_steps must be 0 (each epoch) or more")
        if self.spike_factor <= 1 or self.grad_norm_factor <= 1 or self.stall_factor <= 1:
            out.append("spike_factor, grad_norm_factor and stall_factor must be above 1")
        if self.worse_evals < 0 or self.predictions < 0:
            out.append("worse_evals and predictions must be 0 or more")
        from tui_hf.core.training.control import check_patience
        from tui_hf.core.training.sentinel import eval_metrics, unknown_metric

        try:
            check_patience(self.early_stopping_patience)  # the same rule as a request's patience
        except SpecError as exc:
            out.append(f"early_stopping_patience: {exc}")
        if self.early_stopping_metric is not None and self.task in TRAIN_TASKS:
            why = unknown_metric(self.early_stopping_metric, eval_metrics(self.task))
            if why:
                out.append(f"early_stopping_metric: {why}")
        if self.max_steps == 0 or self.max_steps < -1:
            out.append("max_steps must be above 0, or -1 to train for the given epochs")
        from tui_hf.core.device import DEVICE_CHOICES

        if self.device not in DEVICE_CHOICES and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            out.append(f"device must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N), not {self.device!r}")
        if not self.data.train.strip():
            out.append("data.train must name a data file")
        if self.data.hub_config is not None and not self.data.hub_config.strip():
            out.append("hub_config must name a configuration of the hub dataset (like mrpc for glue), or be left out")
        if not self.data.hub_split.strip():
            out.append("hub_split must name a split (like train)")
        if not 0 <= self.data.validation_fraction < 1:
            out.append("validation_fraction must be in [0, 1)")
        if self.data.max_length < 8:
            out.append("max_length must be at least 8")
        if not self.data.text_column.strip():
            out.append("text_column must name a column")
        if self.task in FAMILIES and FAMILIES[self.task].labelled and not self.data.label_column.strip():
            out.append("label_column must name a column")
        pair = self.data.text_pair_column
        if pair is not None and self.task != "text-classification":
            out.append(f"text_pair_column is for text-classification (sentence pairs), not {self.task}")
        elif pair is not None and pair.strip() in (self.data.text_column, self.data.label_column, ""):
            out.append(f"text_pair_column must name a column other than the text and label columns, not {pair!r}")
        if self.data.label_all_tokens and self.task != "token-classification":
            out.append(f"label_all_tokens is for token-classification, not {self.task}")
        if self.data.whole_word_masking and self.task != "masked-lm":
            out.append(f"whole_word_masking is for masked-lm, not {self.task}")
        seq2seq_only = ("target_column", "source_lang", "target_lang", "source_prefix")
        for key in seq2seq_only:
            if getattr(self.data, key) is not None and self.task != "seq2seq":
                out.append(f"{key} is for seq2seq, not {self.task}")
        target = self.data.target_column
        if self.task == "seq2seq" and target is not None and target.strip() in ("", self.data.text_column):
            out.append(f"target_column must name a column other than the text column, not {target!r}")
        if self.task == "question-answering":
            qa = (self.data.question_column, self.data.context_column, self.data.answers_column)
            if any(not c.strip() for c in qa) or len(set(qa)) < 3:
                out.append("question_column, context_column and answers_column must name three different columns")
            if not 0 <= self.data.doc_stride < self.data.max_length // 2:
                out.append(
                    f"doc_stride must be 0 or more and less than half of max_length ({self.data.max_length}), "
                    f"not {self.data.doc_stride}"
                )
        out += _out_of_range(self, "") + _out_of_range(self.data, "data.")
        if self.seed < 0:
            out.append("seed must be 0 or more")
        if self.lora is not None:
            out += self.lora.problems()
        if self.qlora:
            from tui_hf.core.adapters import qlora_problem

            out += qlora_problem(self.device)
        if self.precision not in PRECISIONS:
            out.append(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.grad_accum < 1:
            out.append("grad_accum must be at least 1")
        return out


MAX_NUMBER = 2**31 - 1  # beyond any setting a run can use; torch, numpy and the step counts still hold it


def _out_of_range(obj: Any, prefix: str) -> list[str]:
    """Numbers no run can use: nan, inf or beyond MAX_NUMBER (epochs 1e308 overflowed only once the run existed)."""
    out = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if (
            f.type in ("int", "float")
            and isinstance(value, (int, float))
            and (isinstance(value, float) and math.isnan(value) or abs(value) > MAX_NUMBER)
        ):
            shown = str(value) if len(str(value)) <= 20 else f"a number of {len(str(value))} digits"
            out.append(f"{prefix}{f.name} must be a number up to {MAX_NUMBER:,}, not {shown}")
    return out


_JSON_KIND = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true/false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), type(value).__name__)


def _unknown(raw: dict[str, Any], cls: type, source: str, prefix: str) -> list[str]:
    known = {f.name for f in fields(cls)}
    return [
        f"{source}: {prefix}extra is not read by tui-hf (it never was): remove it"
        if k == "extra" and not prefix
        else f"{source}: unknown key {prefix}{k}"
        for k in sorted(set(raw) - known, key=str)
    ]


def _expected(cls: type, name: str) -> str:
    return {f.name: str(f.type) for f in fields(cls)}[name]


def _typed(raw: dict[str, Any], cls: type, source: str, prefix: str) -> list[str]:
    """One message per value whose JSON type does not fit the field (dataclass annotations are strings)."""
    out = []
    for f in fields(cls):
        if f.name not in raw or f.name == "data":
            continue
        value, want = raw[f.name], str(f.type)
        ok = {
            "str": isinstance(value, str),
            "str | None": value is None or isinstance(value, str),
            "TrainTask": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int)
            and not isinstance(value, bool)
            or (isinstance(value, float) and math.isfinite(value) and value.is_integer()),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        }.get(want, True)
        if not ok:
            what = {
                "str": "a string",
                "str | None": "a string or null",
                "TrainTask": "a string",
                "bool": "true or false",
                "int": "a whole number",
                "float": "a number",
            }[want]
            out.append(f"{source}: {prefix}{f.name} must be {what}, not {_kind(value)} {json.dumps(value)[:40]}")
    return out


def _coerce(cls: type, name: str, value: Any) -> Any:
    want = _expected(cls, name)
    if want == "int" and isinstance(value, float):
        return int(value)
    if want == "float" and isinstance(value, int):
        return float(value)
    return value
