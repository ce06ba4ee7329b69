"""What a fast tokenizer does to a text, stage by stage: normalizer, pre-tokenizer, model, post-processor.

Read from the Rust tokenizer itself (`backend_tokenizer`): its own configuration (`to_str()`), its normalizer
and pre-tokenizer run on the text, and the model's pieces grouped by the pre-tokenizer's words. The tokenizer
takes added tokens ([MASK], <mask>, tokens added with add_tokens) out of the text before anything else runs,
so the words are made the same way: the text between them is normalized and pre-tokenized, and each piece of
one encoding goes to the word whose span in the text holds its offsets (an added token is a row of its own).
A slow (Python) tokenizer has no such stages to show; `stages` says so instead.
"""

from __future__ import annotations

import bisect
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
    # The pre-tokenizer's words with their character offsets in the text as typed (byte-level shows its byte
    # alphabet, e.g. 'Ġthe'), and for each word the vocabulary strings the model chose. Plain tuples and lists:
    # a 10k character text has thousands of words, and this is recomputed as the user types.
    splits: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    pieces: list[list[str]] = field(default_factory=list)
    matched: set[int] = field(default_factory=set)  # rows that are added tokens found in the text, kept whole
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
        parts = (
            component.get("normalizers")
            or component.get("pretokenizers")
            or component.get("decoders")
            or component.get("processors")
            or []
        )
        return " → ".join(describe(p) for p in parts) or "Sequence"
    flags = [k for k, v in component.items() if k != "type" and v is True]
    values = [
        f"{k}={v!r}"
        for k, v in component.items()
        if k not in ("type", "vocab", "merges") and isinstance(v, (str, int, float)) and not isinstance(v, bool)
    ]
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
        return Stages(
            False,
            reason=f"{type(tok).__name__} is a slow (Python) tokenizer: it has no separate "
            "normalizer / pre-tokenizer / model / post-processor objects to run one by one, "
            "and no character offsets. Models with a tokenizer.json load a fast one.",
        )
    truncated_to = None
    if len(text) > MAX_CHARS:
        text, truncated_to = text[:MAX_CHARS], MAX_CHARS
    summary = components(backend)
    out = Stages(True, truncated_to=truncated_to, **summary)
    # One encoding gives the model's pieces with their offsets in the text, the added tokens it found in the
    # text, and what the post-processor added (the pieces of no sequence).
    full = tok(
        text,
        add_special_tokens=True,
        truncation=False,
        return_token_type_ids=True,
        return_attention_mask=False,
        return_offsets_mapping=True,
    )
    pieces, offsets, sequences = full.tokens(), full["offset_mapping"], full.sequence_ids()
    found = _added_in_text(tok, text, full["input_ids"], offsets, sequences)
    gaps, start = [], 0
    for s, e, *_ in found:
        gaps.append((start, s))
        start = e
    gaps = [(a, b) for a, b in [*gaps, (start, len(text))] if b > a]
    normalizer = backend.normalizer  # it runs on each stretch between added tokens, as in the tokenizer
    parts = [(a, normalizer.normalize_str(text[a:b]) if normalizer is not None else text[a:b]) for a, b in gaps]
    out.normalized = "".join(part for _, part in sorted(parts + [(s, shown) for s, _, shown, _, _ in found]))
    out.changed_by_normalizer = out.normalized != text
    rows: list[tuple[str, tuple[int, int], int | None]] = [(w, span, None) for w, span in _words(backend, text, gaps)]
    rows += [(content, (s, e), k) for s, e, _, content, k in found]  # k: the added token's place in the encoding
    rows.sort(key=lambda row: row[1])
    out.splits = [(word, span) for word, span, _ in rows]
    out.pieces = [[] for _ in rows]
    row_of_added = {k: i for i, (_, _, k) in enumerate(rows) if k is not None}
    out.matched = set(row_of_added.values())
    words = [i for i in range(len(rows)) if i not in out.matched]
    starts, ends = [rows[i][1][0] for i in words], [rows[i][1][1] for i in words]
    for k, piece in enumerate(pieces):
        if sequences[k] is None:
            out.added_tokens.append(piece)
            continue
        if k in row_of_added:
            row = row_of_added[k]
            out.pieces[row].append(rows[row][0])  # its vocabulary string (the encoding's has the swallowed space)
            continue
        if not words:
            continue
        s, e = offsets[k]
        # A piece goes to the word that holds its start; a piece with an empty span (byte-level trims the
        # space of 'Ġ' away) to the word that ends there, which is the one it was cut from.
        j = bisect.bisect_right(starts, s) - 1 if e > s else bisect.bisect_left(ends, s)
        out.pieces[words[min(max(j, 0), len(words) - 1)]].append(piece)
    out.type_ids = list(full.get("token_type_ids") or [])
    return out


def _added_in_text(
    tok: Any, text: str, ids: list[int], offsets: list[tuple[int, int]], sequences: list[int | None]
) -> list[tuple[int, int, str, str, int]]:
    """(start, end, the text as the normalizer leaves it, the token, its index in the encoding) of each added
    token the tokenizer found in the text, in order. The span takes in the whitespace an lstrip / rstrip token swallows, as the
    tokenizer's own split of the text does; only a token added with normalized=True is normalized."""
    added = getattr(tok, "added_tokens_decoder", None) or {}
    unk = getattr(tok, "unk_token_id", None)
    normalizer = tok.backend_tokenizer.normalizer
    found: list[tuple[int, int, str, str, int]] = []
    for k, (token_id, (s, e), sequence) in enumerate(zip(ids, offsets, sequences)):
        token = added.get(token_id)
        if sequence is None or token is None or e <= s:
            continue
        content = str(getattr(token, "content", token))
        if token_id == unk and text[s:e] != content:  # the model's own unknown piece, not "[UNK]" typed
            continue
        if getattr(token, "lstrip", False):
            while s > (found[-1][1] if found else 0) and text[s - 1].isspace():
                s -= 1
        if getattr(token, "rstrip", False):
            while e < len(text) and text[e].isspace():
                e += 1
        shown = text[s:e]
        if normalizer is not None and getattr(token, "normalized", False):
            shown = normalizer.normalize_str(shown)
        found.append((s, e, shown, content, k))
    return found


def _words(backend: Any, text: str, gaps: list[tuple[int, int]]) -> list[tuple[str, tuple[int, int]]]:
    """The pre-tokenizer's words of the text between added tokens, with character offsets in `text`.

    One PreTokenizedString sliced into those stretches keeps each stretch's place in the text, which a
    pre-tokenizer may look at (Metaspace prepends '▁' only to the stretch that starts the text)."""
    from tokenizers import PreTokenizedString

    if not gaps:
        return []
    pre = PreTokenizedString(text)
    pre.split(lambda _, whole: [whole.slice(gap) for gap in gaps])
    if backend.normalizer is not None:
        pre.normalize(backend.normalizer.normalize)
    if backend.pre_tokenizer is not None:
        backend.pre_tokenizer.pre_tokenize(pre)
    return [
        (word, (int(s), int(e)))
        for word, (s, e), _ in pre.get_splits(offset_referential="original", offset_type="char")
    ]


_SUMMARIES: dict[int, tuple[Any, dict[str, str]]] = {}


def components(backend: Any) -> dict[str, str]:
    """The components' descriptions, read once per tokenizer: its JSON holds the whole vocabulary (megabytes
    for large models), far too much to parse on every keystroke."""
    cached = _SUMMARIES.get(id(backend))
    if cached is not None and cached[0] is backend:
        return cached[1]
    config = json.loads(backend.to_str())
    post = config.get("post_processor") or {}
    summary = {
        "normalizer": describe(config.get("normalizer")),
        "pre_tokenizer": describe(config.get("pre_tokenizer")),
        "model": _model(config.get("model") or {}),
        "post_processor": describe(post),
        "decoder": describe(config.get("decoder")),
        "template_single": "",
        "template_pair": "",
    }
    if post.get("type") == "TemplateProcessing":
        summary["template_single"], summary["template_pair"] = (
            _template(post.get("single")),
            _template(post.get("pair")),
        )
    if len(_SUMMARIES) > 8:
        _SUMMARIES.clear()
    _SUMMARIES[id(backend)] = (backend, summary)
    return summary
