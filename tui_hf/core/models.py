"""Loading and saving models: tokenizer and weights for a task's head, on the chosen device.

Where a model comes from (hub id, directory, embedded, offline or not) is decided in `hub`; this module
turns a `Resolved` reference into a `LoadedModel`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_hf.core.card import ModelFacts, head_classes, known_model_type, model_facts
from tui_hf.core.errors import (
    ModelLoadError,
    PickleOnlyError,
    RemoteCodeError,
    SaveTargetError,
    TargetNotEmptyError,
)
from tui_hf.core.hub import Resolved

if TYPE_CHECKING:
    from tui_hf.core.tasks.registry import TaskSpec

Progress = Callable[[str, float], None]


# -- loading --------------------------------------------------------------------------------------------


@dataclass
class ModelInfo:
    title: str
    source: str
    kind: str
    task: str
    architecture: str
    model_type: str
    parameters: int
    dtype: str
    device: str
    tokenizer_class: str
    vocab_size: int
    max_positions: int | None
    labels: dict[int, str]
    warnings: list[str] = field(default_factory=list)
    newly_initialized: list[str] = field(default_factory=list)

    @property
    def parameters_text(self) -> str:
        n = self.parameters
        return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: ModelInfo
    resolved: Resolved
    pipelines: dict[str, Any] = field(default_factory=dict)  # built once per task, reused by each run


def check_code(facts: ModelFacts, task: TaskSpec | None, trust_remote_code: bool) -> None:
    """Refuse, from the config alone, a model whose code transformers lacks, or that has no head for `task`.

    `task` None checks only the architecture (what a tokenizer needs). A model type the library does not
    know needs the model's own code (`auto_map`); so does a head the library lacks but `auto_map` names.
    """
    import transformers

    name, model_type, auto_map = facts.name, facts.model_type, facts.auto_map
    if model_type is None:  # an old config without model_type: transformers guesses from the name, so do not refuse
        return
    if not known_model_type(model_type):
        if not auto_map:
            raise ModelLoadError(f"transformers {transformers.__version__} does not know the model type "
                                 f"{model_type!r} of {name}: a newer transformers may")
        if not trust_remote_code:
            raise RemoteCodeError(f"{name} needs its own Python code to load (model type {model_type!r} is not in "
                                  f"transformers {transformers.__version__}): run it only if you trust its source")
        return
    if task is None or head_classes(task.model_class, model_type):
        return
    model_class = task.model_class
    if model_class in auto_map:
        if not trust_remote_code:
            raise RemoteCodeError(f"{name}'s {model_class} head is its own Python code ({auto_map[model_class]}): "
                                  "run it only if you trust its source")
        return
    raise ModelLoadError(
        f"{name} cannot serve {task.name}: a {model_type} model has no {model_class} head. "
        f"Pick another task, or a model made for it (e.g. {task.default_model})"
    )


def check_weights(facts: ModelFacts, allow_pickle: bool) -> None:
    """Refuse pickle-only weights unless allowed, and a model with no weights at all, from its file list."""
    weights = facts.weights
    if weights is None:  # the Hub could not list them: from_pretrained will find out
        return
    if weights.pickle_only and not allow_pickle:
        raise PickleOnlyError(
            f"{facts.name} has only pickle weights ({', '.join(weights.pickle)}), which can run arbitrary code "
            "when loaded: load them only if you trust their source"
        )
    if not weights.found:
        raise ModelLoadError(f"{facts.name} has no weights: no *.safetensors or pytorch_model.bin in {facts.root}")


def load_tokenizer(resolved: Resolved, trust_remote_code: bool = False) -> Any:
    check_code(model_facts(resolved, weights=False), None, trust_remote_code)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            resolved.source, local_files_only=resolved.local_files_only, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad directory
        raise ModelLoadError(f"could not load a tokenizer from {resolved.ref.name}: {_short(exc)}") from exc


def load(
    resolved: Resolved,
    task: TaskSpec,
    device: str = "auto",
    dtype: str = "auto",
    *,
    tokenizer: Any = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load tokenizer and model for `task` onto the chosen device. What the model's files already tell
    (remote code, no head for the task, pickle-only or missing weights) is refused before any weight is read."""
    report = progress or (lambda _stage, _frac: None)
    from tui_hf.core.device import pick_device
    from tui_hf.core.quiet import silence_imported_libraries

    report("importing torch", 0.05)
    import torch

    report("importing transformers", 0.2)
    import transformers

    silence_imported_libraries()
    plan = pick_device(device, dtype)
    report("reading the model's files", 0.3)
    facts = model_facts(resolved)
    check_code(facts, task, trust_remote_code)
    check_weights(facts, allow_pickle)
    report("loading tokenizer", 0.45)
    tok = tokenizer if tokenizer is not None else load_tokenizer(resolved, trust_remote_code)
    report(f"loading weights ({task.model_class})", 0.6)
    auto_class = getattr(transformers, task.model_class)
    try:
        model, loading_info = auto_class.from_pretrained(
            resolved.source,
            local_files_only=resolved.local_files_only,
            trust_remote_code=trust_remote_code,
            use_safetensors=None if allow_pickle else True,
            dtype=getattr(torch, plan.dtype),
            output_loading_info=True,
        )
    except Exception as exc:  # corrupt or truncated weights, shapes that do not match the config...
        raise ModelLoadError(f"could not load {resolved.ref.name} for {task.name}: {_short(exc)}") from exc
    report(f"moving to {plan.device}", 0.9)
    model.to(plan.device)
    model.eval()
    info = describe(model, tok, resolved, task, plan.device)
    missing = sorted(loading_info.get("missing_keys") or [])
    if missing:
        info.newly_initialized = missing
        info.warnings.append(
            f"{len(missing)} weights of {info.architecture} are not in the checkpoint and were randomly "
            f"initialised ({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): its outputs mean "
            f"nothing until it is finetuned. For a trained {task.name} model try {task.default_model}."
        )
    report("ready", 1.0)
    return LoadedModel(model=model, tokenizer=tok, info=info, resolved=resolved)


def describe(model: Any, tok: Any, resolved: Resolved, task: TaskSpec, device: str) -> ModelInfo:
    config = model.config
    return ModelInfo(
        title=resolved.ref.title,
        source=resolved.source,
        kind=resolved.ref.kind,
        task=task.name,
        architecture=type(model).__name__,
        model_type=getattr(config, "model_type", "?"),
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        device=device,
        tokenizer_class=type(tok).__name__,
        vocab_size=len(tok),
        max_positions=getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None),
        labels={int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()},
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def save(loaded: LoadedModel, directory: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save model, tokenizer and config with save_pretrained (safetensors). Refuses a non-empty directory
    unless `overwrite`, so nothing is replaced by accident."""
    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise SaveTargetError(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TargetNotEmptyError(f"{out} is not empty: saving there would replace the files it holds")
    out.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out
