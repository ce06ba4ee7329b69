"""A model card from the files alone: what a model is, before its weights are loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.hub import Resolved
from tui_hf.core.tasks.registry import TASKS

# Which transformers mapping says an architecture has the head a task needs.
_TASK_MAPPINGS = {
    "text-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "zero-shot-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "question-answering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "fill-mask": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "summarization": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "translation": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "text2text-generation": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "text-generation": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "conversational": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "feature-extraction": "MODEL_MAPPING_NAMES",
}


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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def local_dir(resolved: Resolved) -> Path:
    if resolved.ref.kind != "hub":
        return Path(resolved.source)
    from tui_hf.core.hub import cached_snapshot

    snapshot = cached_snapshot(resolved.source)
    if snapshot is None:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(resolved.source, allow_patterns=["*.json", "*.txt", "*.model"]))
    return Path(snapshot).parent


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
    from transformers.models.auto import modeling_auto

    root = local_dir(resolved)
    config = _read_json(root / "config.json")
    tok_config = _read_json(root / "tokenizer_config.json")
    files = [p for p in root.rglob("*") if p.is_file()]
    weights_st = [p for p in files if p.suffix == ".safetensors"]
    weights_pickle = [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".ckpt") and "training" not in p.name]
    model_type = str(config.get("model_type", "?"))
    architectures = list(config.get("architectures") or [])
    tasks: dict[str, str] = {}
    for name, mapping in _TASK_MAPPINGS.items():
        head = getattr(modeling_auto, mapping, {}).get(model_type)
        if head is None:
            continue
        heads = head if isinstance(head, (list, tuple)) else [head]
        if name == "feature-extraction" or any(h in architectures for h in heads):
            tasks[name] = "ready" if name == "feature-extraction" else "trained head"
        else:
            tasks[name] = "head to finetune"
    chat = bool(tok_config.get("chat_template")) or (root / "chat_template.jinja").exists()
    if "conversational" in tasks and not chat:
        tasks["conversational"] = "no chat template"
    id2label = config.get("id2label") or {}
    labels = [str(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0]))] if id2label else []
    return ModelCard(
        title=resolved.ref.title, location=str(root), architectures=architectures, model_type=model_type,
        parameters=safetensors_parameters(weights_st) if weights_st else None,
        dtype=config.get("dtype") or config.get("torch_dtype"),
        vocab_size=config.get("vocab_size"),
        max_positions=config.get("max_position_embeddings") or config.get("n_positions"),
        labels=labels, tokenizer_class=tok_config.get("tokenizer_class"),
        size_on_disk=sum(p.stat().st_size for p in files), safetensors=bool(weights_st),
        pickle_only=bool(weights_pickle) and not weights_st,
        chat_template=chat,
        tasks={t: tasks[t] for t in TASKS if t in tasks},
    )
