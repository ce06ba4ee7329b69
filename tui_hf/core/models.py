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

from tui_hf.core.errors import ModelLoadError, PickleOnlyError
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


def load_tokenizer(resolved: Resolved, trust_remote_code: bool = False) -> Any:
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
    """Load tokenizer and model for `task` onto the chosen device. Raises ModelLoadError with advice."""
    report = progress or (lambda _stage, _frac: None)
    from tui_hf.core.device import pick_device
    from tui_hf.core.quiet import silence_imported_libraries

    report("importing torch", 0.05)
    import torch

    report("importing transformers", 0.2)
    import transformers

    silence_imported_libraries()
    plan = pick_device(device, dtype)
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
    except Exception as exc:
        message = _explain_load_failure(exc, resolved, task)
        raise (PickleOnlyError if "pickle" in message else ModelLoadError)(message) from exc
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


def _explain_load_failure(exc: BaseException, resolved: Resolved, task: TaskSpec) -> str:
    text = str(exc)
    name = resolved.ref.name
    if "Unrecognized configuration class" in text or "does not recognize this architecture" in text:
        return (
            f"{name} cannot serve {task.name}: its architecture has no {task.model_class} head. "
            f"Pick another task, or a model made for it (e.g. {task.default_model})."
        )
    if "safetensors" in text.lower() and ("not found" in text.lower() or "does not appear" in text.lower()
                                          or "no file named" in text.lower()):
        return (
            f"{name} has only a pickle checkpoint (pytorch_model.bin), which can run arbitrary code when "
            "loaded. Load it only if you trust its source, with --allow-pickle."
        )
    if "trust_remote_code" in text:
        return f"{name} needs its own code to load; pass --trust-remote-code only if you trust its source."
    return f"could not load {name} for {task.name}: {_short(exc)}"


def save(loaded: LoadedModel, directory: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save model, tokenizer and config with save_pretrained (safetensors). Refuses a non-empty directory
    unless `overwrite`, so nothing is replaced by accident."""
    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise ModelLoadError(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ModelLoadError(f"{out} is not empty: choose another directory or confirm overwriting it")
    out.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out
