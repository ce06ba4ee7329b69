"""How much text a model reads, and cutting inputs to that with a warning instead of a tensor size error.

A tokenizer's `model_max_length` can exceed what the model has positions for (a small model saved with a big
model's tokenizer), or be unset (a huge sentinel), so the limit is the smaller of the two that are known.
"""

from __future__ import annotations

from typing import Any

from tui_hf.core.models import LoadedModel

_UNSET = 10**6  # tokenizers without a declared limit report int(1e30)

# Models whose learned positions start after the padding index (RoBERTa's scheme): positions - pad - 1 usable.
_OFFSET_POSITIONS = {
    "roberta",
    "xlm-roberta",
    "camembert",
    "longformer",
    "roberta-prelayernorm",
    "xmod",
    "data2vec-text",
    "mpnet",
    "ibert",
    "luke",
    "markuplm",
    "esm",
}


def model_positions(model: Any) -> int | None:
    """How many token positions the model's (learned or fixed) position table has, if it has one."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        pad = getattr(config, "pad_token_id", None)
        positions -= (pad if isinstance(pad, int) else 1) + 1
    return positions


def input_limit(loaded: LoadedModel) -> int | None:
    """The most tokens (special tokens included) one input to this model may have; None if nothing says."""
    known = [
        n
        for n in (getattr(loaded.tokenizer, "model_max_length", None), model_positions(loaded.model))
        if isinstance(n, int) and 0 < n < _UNSET
    ]
    return min(known) if known else None


def token_count(tok: Any, text: str) -> int:
    """Tokens in `text`, special tokens not counted. Short texts skip the tokenizer: a token covers at least
    one byte of text in every tokenizer family (byte-level BPE, WordPiece, SentencePiece)."""
    return len(tok(text, add_special_tokens=False)["input_ids"])


def fits(tok: Any, text: str, budget: int) -> bool:
    return len(text.encode("utf-8")) + 1 <= budget or token_count(tok, text) <= budget


def clip(tok: Any, text: str, budget: int) -> tuple[str, int]:
    """`text` cut to the characters its first `budget` tokens cover, and how many tokens it had (0 when it
    fits). Cutting the text, not the ids, keeps character offsets (NER spans) valid for what was read."""
    if fits(tok, text, budget):
        return text, 0
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        total = len(enc["input_ids"])
        if total <= budget:
            return text, 0
        end = enc["offset_mapping"][max(budget, 1) - 1][1]
        return text[:end], total
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return text, 0
    return tok.decode(ids[:budget]), len(ids)  # no offsets in a Python tokenizer: the decoded prefix


def truncation_warning(index: int, inputs: int, total: int, kept: int) -> str:
    which = f"input {index + 1}" if inputs > 1 else "the input"
    return f"{which} is {total:,} tokens and this model reads at most {kept:,} here: only the first {kept:,} were used"


def clip_all(loaded: LoadedModel, texts: list[str], reserved: int = 0) -> tuple[list[str], list[str]]:
    """Every text cut to the model's limit less `reserved` tokens (special tokens, a hypothesis...), and a
    warning for each that was cut."""
    limit = input_limit(loaded)
    if limit is None:
        return texts, []
    tok = loaded.tokenizer
    budget = max(limit - reserved - tok.num_special_tokens_to_add(pair=False), 1)
    out, warnings = [], []
    for i, text in enumerate(texts):
        clipped, total = clip(tok, text, budget)
        out.append(clipped)
        if total:
            warnings.append(truncation_warning(i, len(texts), total, budget))
    return out, warnings
