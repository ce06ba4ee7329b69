"""Any number of tokenizers on the same text: how many tokens each makes, characters per token, unknown
tokens, vocabulary size, and whether decoding gives the text back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_hf.core.tokens import TokenBreakdown, TokenizeSettings, breakdown, roundtrip


@dataclass
class TokenizerStats:
    name: str
    breakdown: TokenBreakdown
    per_input: list[int]  # tokens of each input, special tokens included, padding not
    unknown: int  # tokens that are the unknown token (the vocabulary has no piece for those characters)
    vocab_size: int
    exact: bool  # decode(encode(text)) gives every input back
    roundtrip: str  # "exact" or the main reason it does not

    @property
    def tokens(self) -> int:
        return sum(self.per_input)

    @property
    def chars(self) -> int:
        return self.breakdown.total_chars

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens if self.tokens else 0.0


def tokenizer_stats(
    tok: Any, texts: list[str], settings: TokenizeSettings = TokenizeSettings(), name: str | None = None
) -> TokenizerStats:
    bd = breakdown(tok, texts, settings)
    trips = [roundtrip(bd, i) for i in range(len(bd.sequences))]
    inexact = next((t for t in trips if not t.exact), None)
    return TokenizerStats(
        name or bd.tokenizer_name,
        bd,
        [s.real_tokens for s in bd.sequences],
        sum(t.unknown for t in trips),
        len(tok),
        inexact is None,
        "exact" if inexact is None else inexact.summary,
    )


def compare_tokenizers(
    tokenizers: list[Any],
    texts: list[str],
    settings: TokenizeSettings = TokenizeSettings(),
    names: list[str] | None = None,
) -> list[TokenizerStats]:
    """Each tokenizer on the same texts and settings, in the order given."""
    names = names or [None] * len(tokenizers)  # type: ignore[list-item]
    return [tokenizer_stats(tok, texts, settings, name) for tok, name in zip(tokenizers, names)]
