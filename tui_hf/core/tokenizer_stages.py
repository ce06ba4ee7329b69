"""What a fast tokenizer does to a text, stage by stage: normalizer, pre-tokenizer, model, post-processor.

Read from the Rust tokenizer itself (`backend_tokenizer`): its own configuration (`to_str()`), its normalizer
and pre-tokenizer run on the text, and the model's pieces grouped by the pre-tokenizer's words (the word ids
of one encoding, so the cost is two extra passes over the text, not one call per word). A slow (Python)
tokenizer has no such stages to show; `stages` says so instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stages:
    available: bool
    reason: str = ""  # why stages cannot be shown (slow tokenizer)
    normalizer: str = ""  # e.g. "BertNormalizer(lowercase, clean_text)", "" when there is none
    normalized: str = ""
    changed_by_normalizer: bool = False
    pre_tokenizer: str = ""
    # The pre-tokenizer's words with their offsets in the normalized text (byte-level shows its byte alphabet,
    # e.g. 'Ġthe'), and for each word the vocabulary strings the model chose. Plain tuples and lists: a 10k
    # character text has thousands of words, and this is recomputed as the user types.
    splits: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    pieces: list[list[str]] = field(default_factory=list)
    model: str = ""  # e.g. "WordPiece (unk [UNK], continuation ##)"
    post_processor: str = ""
    template_single: str = ""  # e.g. "[CLS] $A [SEP]"
    template_pair: str = ""  # e.g. "[CLS] $A [SEP] $B:1 [SEP]:1"
    added_tokens: list[str] = field(default_factory=list)  # what the post-processor added to this text
    type_ids: list[int] = field(default_factory=list)  # of the final encoding
    decoder: str = ""
    truncated_to: int | None = None  # characters of the text looked at (very long texts are cut)


MAX_CHARS = 20_000  # beyond this the stage view shows the text's start: it is read by a person, not a model


def describe(component: dict[str, Any] | None) -> str:
    """A one-line summary of a tokenizers component from its JSON configuration."""
    if not component:
        return ""
    kind = str(component.get("type", "?"))
    if kind == "Sequence":
        parts = (component.get("normalizers") or component.get("pretokenizers") or component.get("decoders")
                 or component.get("processors") or [])
        return " → ".join(describe(p) for p in parts) or "Sequence"
    flags = [k for k, v in component.items() if k != "type" and v is True]
    values = [f"{k}={v!r}" for k, v in component.items()
              if k not in ("type", "vocab", "merges") and isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    inner = ", ".join(flags + values[:3])
    return f"{kind}({inner})" if inner else kind


def _template(pieces: list[dict[str, Any]] | None) -> str:
    out = []
    for piece in pieces or []:
        if "SpecialToken" in piece:
            spec = piece["SpecialToken"]
            out.append(spec["id"] + (f":{spec['type_id']}" if spec.get("type_id") else ""))
        elif "Sequence" in piece:
            spec = piece["Sequence"]
            out.append("$" + spec["id"] + (f":{spec['type_id']}" if spec.get("type_id") else ""))
    return " ".join(out)


def _model(config: dict[str, Any]) -> str:
    kind = str(config.get("type", "?"))
    details = []
    if config.get("unk_token"):
        details.append(f"unk {config['unk_token']}")
    elif config.get("unk_id") is not None:
        details.append(f"unk id {config['unk_id']}")
    if config.get("continuing_subword_prefix"):
        details.append(f"continuation {config['continuing_subword_prefix']}")
    if config.get("byte_fallback"):
        details.append("byte fallback <0x..>")
    vocab = config.get("vocab")
    if vocab is not None:
        details.append(f"vocabulary {len(vocab):,}")
    if config.get("merges") is not None:
        details.append(f"{len(config['merges']):,} merges")
    return f"{kind} ({', '.join(details)})" if details else kind


def stages(tok: Any, text: str) -> Stages:
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None or not getattr(tok, "is_fast", False):
        return Stages(False, reason=f"{type(tok).__name__} is a slow (Python) tokenizer: it has no separate "
                                    "normalizer / pre-tokenizer / model / post-processor objects to run one by one, "
                                    "and no character offsets. Models with a tokenizer.json load a fast one.")
    truncated_to = None
    if len(text) > MAX_CHARS:
        text, truncated_to = text[:MAX_CHARS], MAX_CHARS
    summary = components(backend)
    out = Stages(True, truncated_to=truncated_to, **summary)
    normalizer = backend.normalizer
    out.normalized = normalizer.normalize_str(text) if normalizer is not None else text
    out.changed_by_normalizer = out.normalized != text
    words = (backend.pre_tokenizer.pre_tokenize_str(out.normalized) if backend.pre_tokenizer is not None
             else [(out.normalized, (0, len(out.normalized)))])
    out.splits = words
    pieces: list[list[str]] = [[] for _ in words]
    out.pieces = pieces
    # One encoding gives both the model's pieces, grouped by the word each came from (word ids are the
    # pre-tokenizer's words), and what the post-processor added (the pieces with no word).
    full = tok(text, add_special_tokens=True, truncation=False, return_token_type_ids=True,
               return_attention_mask=False)
    for piece, word in zip(full.tokens(), full.word_ids()):
        if word is None:
            out.added_tokens.append(piece)
        elif word < len(pieces):
            pieces[word].append(piece)
    out.type_ids = list(full.get("token_type_ids") or [])
    return out


_SUMMARIES: dict[int, tuple[Any, dict[str, str]]] = {}


def components(backend: Any) -> dict[str, str]:
    """The components' descriptions, read once per tokenizer: its JSON holds the whole vocabulary (megabytes
    for large models), far too much to parse on every keystroke."""
    cached = _SUMMARIES.get(id(backend))
    if cached is not None and cached[0] is backend:
        return cached[1]
    config = json.loads(backend.to_str())
    post = config.get("post_processor") or {}
    summary = {"normalizer": describe(config.get("normalizer")), "pre_tokenizer": describe(config.get("pre_tokenizer")),
               "model": _model(config.get("model") or {}), "post_processor": describe(post),
               "decoder": describe(config.get("decoder")), "template_single": "", "template_pair": ""}
    if post.get("type") == "TemplateProcessing":
        summary["template_single"], summary["template_pair"] = _template(post.get("single")), _template(post.get("pair"))
    if len(_SUMMARIES) > 8:
        _SUMMARIES.clear()
    _SUMMARIES[id(backend)] = (backend, summary)
    return summary
