"""A model card from the files alone: what a model is, before its weights are loaded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.errors import ModelLoadError
from tui_hf.core.hub import Resolved
from tui_hf.core.tasks.registry import TASKS

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# Pickles that Trainer and the native loop keep beside the weights in a checkpoint: training state, not weights.
_TRAINING_STATE = re.compile(r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state.*\.pth)$")


@dataclass(frozen=True)
class WeightFiles:
    """A model's weight files by format (names relative to its directory)."""

    safetensors: tuple[str, ...]
    pickle: tuple[str, ...]

    @property
    def pickle_only(self) -> bool:
        return bool(self.pickle) and not self.safetensors

    @property
    def found(self) -> bool:
        return bool(self.safetensors or self.pickle)


def weight_files(names: Iterable[str]) -> WeightFiles:
    """Which weight formats a model directory holds. Only its top level counts: that is where from_pretrained
    looks (a run directory's checkpoints/ below it are other models)."""
    top = sorted({n for n in names if "/" not in n})
    return WeightFiles(
        safetensors=tuple(n for n in top if n.endswith(".safetensors")),
        pickle=tuple(n for n in top if n.endswith(PICKLE_SUFFIXES) and not _TRAINING_STATE.match(n)),
    )


def head_classes(model_class: str, model_type: str) -> tuple[str, ...]:
    """The classes transformers' Auto class `model_class` builds for `model_type`; empty when it has none
    (the architecture has no such head). Read from the Auto class's own mapping, so it follows the library."""
    import transformers

    mapping = getattr(transformers, model_class)._model_mapping._model_mapping
    names = mapping.get(model_type)
    if names is None:
        return ()
    return tuple(names) if isinstance(names, (list, tuple)) else (names,)


# Heads with one output per label: only these make a config's id2label mean anything (every config has one,
# LABEL_0 and LABEL_1 by default, a base model or a language model included).
LABELLED_HEADS = ("AutoModelForSequenceClassification", "AutoModelForTokenClassification")


def has_label_head(architecture: str, model_type: str) -> bool:
    return any(architecture in head_classes(auto, model_type) for auto in LABELLED_HEADS)


def known_model_type(model_type: str) -> bool:
    """Does the installed transformers have code for this model type (without the model's own code)?"""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return model_type in CONFIG_MAPPING


@dataclass
class ModelCard:
    title: str
    location: str
    architectures: list[str]
    model_type: str
    parameters: int | None
    dtype: str | None
    vocab_size: int | None
    max_positions: int | None
    labels: list[str]
    tokenizer_class: str | None
    size_on_disk: int
    safetensors: bool
    pickle_only: bool
    chat_template: bool
    tasks: dict[str, str] = field(default_factory=dict)  # task -> "trained head" | "head to finetune" | "ready"
    adapter_on: str = ""  # a LoRA adapter directory: its base model (the parameters are the adapter's)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class ModelFacts:
    """What a model's own files say before any weight is read: its config and its weight files."""

    name: str
    root: Path
    config: dict[str, Any]
    weights: WeightFiles | None  # None when the Hub holds files that could not be listed

    @property
    def model_type(self) -> str | None:
        value = self.config.get("model_type")
        return str(value) if value else None

    @property
    def auto_map(self) -> dict[str, Any]:
        value = self.config.get("auto_map")
        return value if isinstance(value, dict) else {}


def model_facts(resolved: Resolved) -> ModelFacts:
    """Read config and weight files from the directory `resolve` found (a model directory, or the hub cache's
    snapshot). A hub model whose local files hold no safetensors yet (only its config was fetched) goes by
    the Hub's file list, when resolve got one."""
    root = resolved.root
    if root is None:  # resolve(fetch=False) of an uncached hub id: nothing to read
        raise ModelLoadError(f"the files of {resolved.ref.name} are not on this machine")
    config = _read_json(root / "config.json")
    found: WeightFiles | None = weight_files(p.name for p in root.iterdir() if p.is_file())
    if resolved.ref.kind == "hub" and not found.safetensors and not resolved.local_files_only:
        found = weight_files(resolved.listed) if resolved.listed is not None else None
    return ModelFacts(resolved.ref.name, root, config, found)


def safetensors_parameters(files: list[Path]) -> int | None:
    """Count parameters from safetensors headers (a few KB read, no weights loaded)."""
    import struct

    total = 0
    for f in files:
        try:
            with open(f, "rb") as fh:
                header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        except (OSError, ValueError, struct.error):
            return None
        for name, meta in header.items():
            if name != "__metadata__":
                n = 1
                for dim in meta["shape"]:
                    n *= dim
                total += n
    return total


def model_card(resolved: Resolved) -> ModelCard:
    facts = model_facts(resolved)
    root, config = facts.root, facts.config
    tok_config = _read_json(root / "tokenizer_config.json")
    files = [p for p in root.rglob("*") if p.is_file()]
    weights = weight_files(p.name for p in root.iterdir() if p.is_file())
    model_type = str(config.get("model_type", "?"))
    architectures = list(config.get("architectures") or [])
    tasks: dict[str, str] = {}
    for name, spec in TASKS.items():
        heads = head_classes(spec.model_class, model_type)
        if not heads:
            continue
        if name == "feature-extraction":
            tasks[name] = "ready"
        else:
            tasks[name] = "trained head" if any(h in architectures for h in heads) else "head to finetune"
    chat = bool(tok_config.get("chat_template")) or (root / "chat_template.jinja").exists()
    if "conversational" in tasks and not chat:
        tasks["conversational"] = "no chat template"
    id2label = config.get("id2label") or {}
    if not any(has_label_head(a, model_type) for a in architectures):
        id2label = {}
    labels = [str(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0]))] if id2label else []
    return ModelCard(
        title=resolved.ref.title,
        location=str(root),
        architectures=architectures,
        model_type=model_type,
        parameters=safetensors_parameters([root / n for n in weights.safetensors]) if weights.safetensors else None,
        dtype=config.get("dtype") or config.get("torch_dtype"),
        vocab_size=config.get("vocab_size"),
        max_positions=config.get("max_position_embeddings") or config.get("n_positions"),
        labels=labels,
        tokenizer_class=tok_config.get("tokenizer_class"),
        size_on_disk=sum(p.stat().st_size for p in files),
        safetensors=bool(weights.safetensors),
        pickle_only=weights.pickle_only,
        chat_template=chat,
        tasks=tasks,
        adapter_on=_adapter_base(root),
    )


def _adapter_base(root: Path) -> str:
    from tui_hf.core.adapters import adapter_base

    try:
        return adapter_base(root) or ""
    except ModelLoadError:
        return ""


def causal_lm_problem(model: str, directory: Path, raw: dict[str, Any], use: str = "used as a causal LM") -> str | None:
    """Why this architecture cannot be `use`d (trained or run as a causal LM), or None. From transformers' own
    mappings; training and the generating tasks (text generation, chat, scoring) ask the same question.

    A model type with no entry in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES has no causal-LM class at all. One that is
    also a masked LM and not an encoder-decoder (BERT, RoBERTa, ELECTRA...) is an encoder: its causal-LM class
    masks the tokens ahead only when config.is_decoder is set, and otherwise attends both ways, so each
    position sees the token it is asked to predict and the loss falls to nothing. Such a model is refused
    rather than switched to a decoder here: setting is_decoder would change, without the user's word, the
    attention the model was pretrained with; a config that already says is_decoder: true is the user's choice
    (and transformers supports it), so it trains.
    """
    model_type = raw.get("model_type")
    auto_map = raw.get("auto_map")
    if not isinstance(model_type, str) or isinstance(auto_map, dict) and "AutoModelForCausalLM" in auto_map:
        return None  # an old config transformers guesses from, or the model's own code (trust_remote_code)
    import transformers
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    architecture = ", ".join(a for a in raw.get("architectures") or [] if isinstance(a, str)) or model_type
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return (
            f"{model} ({architecture}) cannot be {use}: transformers has no causal-LM class for "
            f"{model_type} models; choose a decoder model (GPT-2, Llama, Qwen...)"
        )
    if model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return None
    try:  # the config as transformers fills it in: config.json leaves out values equal to the defaults
        config = transformers.AutoConfig.from_pretrained(str(directory), local_files_only=True)
    except Exception:  # a config transformers cannot read: loading the model will say why
        return None
    if config.is_encoder_decoder or config.is_decoder:
        return None
    return (
        f"{model} ({architecture}) is an encoder: {use}, its "
        f"{MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]} would see the very tokens it is asked to predict; "
        'choose a decoder model, or set "is_decoder": true in its config.json to make it read left to right'
    )
