"""The tokenizer breakdown: what a tokenizer makes of some text, in plain data.

Works on any transformers tokenizer; offsets, word ids and the exact coloured split need a fast (Rust)
one, which is what every model with a tokenizer.json has.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Literal

Padding = Literal["longest", "max_length", "do_not_pad"]
PieceKind = Literal["token", "special", "pad", "gap"]


@dataclass(frozen=True)
class TokenizeSettings:
    add_special_tokens: bool = True
    truncation: bool = False
    max_length: int | None = None
    padding: Padding = "longest"


@dataclass
class Sequence:
    """One input of the batch, token by token (parallel lists)."""

    text: str
    tokens: list[str]
    ids: list[int]
    attention_mask: list[int]
    special: list[bool]
    offsets: list[tuple[int, int]] | None
    word_ids: list[int | None] | None
    type_ids: list[int] | None
    decoded: str
    truncated: bool
    _starts: list[int] = field(default_factory=list, repr=False)

    @property
    def real_tokens(self) -> int:
        return sum(self.attention_mask)

    @property
    def roundtrip_exact(self) -> bool:
        return self.decoded == self.text

    def token_at(self, char: int) -> int | None:
        """Index of the token covering character `char`, or None (whitespace, or no offsets)."""
        if self.offsets is None:
            return None
        if not self._starts:
            self._starts = [s if not sp else -1 for (s, _e), sp in zip(self.offsets, self.special)]
        # Offsets are ordered for real tokens; special ones (0, 0) are skipped by the scan below.
        i = bisect.bisect_right(self._starts, char) - 1
        while i >= 0:
            start, end = self.offsets[i]
            if not self.special[i] and start <= char < end:
                return i
            if not self.special[i] and end <= char:
                return None
            i -= 1
        return None

    def pieces(self) -> list[tuple[str, int | None, PieceKind]]:
        """The input cut into (text, token index, kind): tokens, the gaps between them, specials, pads.

        Joining the token and gap pieces gives back the input exactly; special and pad pieces are the
        markers a viewer shows in place.
        """
        out: list[tuple[str, int | None, PieceKind]] = []
        if self.offsets is None:
            for i, tok in enumerate(self.tokens):
                kind: PieceKind = "pad" if not self.attention_mask[i] else "special" if self.special[i] else "token"
                out.append((tok, i, kind))
            return out
        pos = 0
        for i, (start, end) in enumerate(self.offsets):
            if not self.attention_mask[i]:
                out.append((self.tokens[i], i, "pad"))
            elif self.special[i] or start == end:
                out.append((self.tokens[i], i, "special"))
            else:
                if start > pos:
                    out.append((self.text[pos:start], None, "gap"))
                elif start < pos:  # overlapping offsets (byte-level merges): show the rest only
                    start = pos
                out.append((self.text[start:end], i, "token"))
                pos = max(pos, end)
        if pos < len(self.text):
            out.append((self.text[pos:], None, "gap"))
        return out


@dataclass
class TokenBreakdown:
    tokenizer_name: str
    is_fast: bool
    settings: TokenizeSettings
    sequences: list[Sequence]
    normalizer: Any = None  # the tokenizer's normalizer (lowercase, strip accents), if it has one

    def normalized(self, i: int) -> str | None:
        """Input `i` as the tokenizer's normalizer sees it (computed on demand: it is a full pass)."""
        return self.normalizer.normalize_str(self.sequences[i].text) if self.normalizer is not None else None

    @property
    def total_tokens(self) -> int:
        return sum(s.real_tokens for s in self.sequences)

    @property
    def total_chars(self) -> int:
        return sum(len(s.text) for s in self.sequences)

    @property
    def padded_length(self) -> int:
        return max((len(s.ids) for s in self.sequences), default=0)


_MARKERS = {"Ġ": " ", "▁": " ", "Ċ": "\\n", "ĉ": "\\t"}


def readable(token: str) -> str:
    """A token as a person reads it: WordPiece '##' continuations and BPE/SentencePiece space marks spelt out."""
    if token.startswith("##") and len(token) > 2:
        return "…" + token[2:]
    for mark, plain in _MARKERS.items():
        if mark in token:
            token = token.replace(mark, "␣" if plain == " " else plain)
    return token


def tokenizer_name(tok: Any) -> str:
    """A short name: the repo id, or the last parts of a local path (site-packages paths are long)."""
    name = str(getattr(tok, "name_or_path", "") or type(tok).__name__)
    parts = name.replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else name


def breakdown(tok: Any, texts: list[str], settings: TokenizeSettings = TokenizeSettings()) -> TokenBreakdown:
    """Tokenize `texts` as one batch and return every per-token detail the breakdown pane shows."""
    is_fast = bool(getattr(tok, "is_fast", False))
    kwargs: dict[str, Any] = dict(
        add_special_tokens=settings.add_special_tokens,
        return_special_tokens_mask=True,
        return_attention_mask=True,
        return_token_type_ids=True,
        return_offsets_mapping=is_fast,
    )
    padding = settings.padding
    if padding == "max_length" and not settings.max_length:
        padding = "longest"
    if settings.truncation or padding == "max_length":
        kwargs["max_length"] = settings.max_length or getattr(tok, "model_max_length", None)
    if len(texts) > 1 or padding == "max_length":
        kwargs["padding"] = padding if padding != "do_not_pad" else False
    if tok.pad_token is None and kwargs.get("padding"):
        kwargs["padding"] = False  # e.g. GPT-2 has no pad token: show the batch unpadded rather than fail
    kwargs["truncation"] = settings.truncation
    enc = tok(texts, **kwargs)
    sequences = []
    for i, text in enumerate(texts):
        ids = list(enc["input_ids"][i])
        mask = list(enc["attention_mask"][i])
        special = [bool(x) for x in enc["special_tokens_mask"][i]]
        offsets = [tuple(o) for o in enc["offset_mapping"][i]] if is_fast else None
        tokens = enc.tokens(i) if is_fast else tok.convert_ids_to_tokens(ids)
        word_ids = enc.word_ids(i) if is_fast else None
        type_ids = list(enc["token_type_ids"][i]) if "token_type_ids" in enc else None
        real = [t for t, m in zip(ids, mask) if m]
        decoded = tok.decode(real, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        truncated = False
        if settings.truncation and offsets is not None:
            last_end = max((e for (s, e), sp, m in zip(offsets, special, mask) if m and not sp), default=0)
            truncated = last_end < len(text.rstrip())
        sequences.append(
            Sequence(text, tokens, ids, mask, special, offsets, word_ids, type_ids, decoded, truncated)
        )
    backend = getattr(tok, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None) if backend is not None else None
    return TokenBreakdown(tokenizer_name(tok), is_fast, settings, sequences, normalizer)


def roundtrip_note(bd: TokenBreakdown, i: int) -> str:
    """Why the decoded ids do or do not give back input `i`."""
    seq = bd.sequences[i]
    if seq.roundtrip_exact:
        return "exact"
    if seq.truncated:
        return "truncated"
    normalized = bd.normalized(i)
    if normalized is not None and seq.decoded.strip() == normalized.strip():
        return "normalized (the tokenizer lowercases or strips accents)"
    if seq.decoded.replace(" ", "") == seq.text.replace(" ", ""):
        return "spacing differs"
    return "differs"


@dataclass(frozen=True)
class Comparison:
    name_a: str
    name_b: str
    counts_a: list[int]
    counts_b: list[int]
    a: TokenBreakdown
    b: TokenBreakdown

    @property
    def total_a(self) -> int:
        return sum(self.counts_a)

    @property
    def total_b(self) -> int:
        return sum(self.counts_b)


def compare(tok_a: Any, tok_b: Any, texts: list[str], settings: TokenizeSettings = TokenizeSettings()) -> Comparison:
    """Tokenize the same texts with two tokenizers; counts exclude padding."""
    a, b = breakdown(tok_a, texts, settings), breakdown(tok_b, texts, settings)
    return Comparison(
        a.tokenizer_name, b.tokenizer_name,
        [s.real_tokens for s in a.sequences], [s.real_tokens for s in b.sequences], a, b,
    )
