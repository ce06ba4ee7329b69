"""The tokenizer breakdown: what a tokenizer makes of some text, in plain data.

Works on any transformers tokenizer; offsets, word ids and the exact coloured split need a fast (Rust)
one, which is what every model with a tokenizer.json has.
"""

from __future__ import annotations

import bisect
import functools
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
            elif start == end and not self.special[i] and pos < start and self.text[start - 1].isspace():
                # A lone byte-level space ('Ġ'): trim_offsets leaves it an empty span just after the space it
                # stands for. Drawn as that space, not as the marker 'Ġ' beside a gap holding the same space.
                if start - 1 > pos:
                    out.append((self.text[pos : start - 1], None, "gap"))
                out.append((self.text[start - 1 : start], i, "token"))
                pos = start
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
    normalizer_name: str = ""
    unk_id: int | None = None
    unk_token: str | None = None
    special_tokens: list[str] = field(default_factory=list)
    byte_level: bool = False  # pieces are in the byte-level alphabet ('Ġthe')
    model_max_length: int | None = None  # the most tokens the tokenizer says its model reads (None: unset)

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


_VISIBLE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}


@functools.lru_cache(maxsize=1)
def _byte_level_table() -> dict[str, int]:
    """Byte-level BPE's alphabet (GPT-2, RoBERTa, Llama 3...): each byte is stored as a printable character.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes are shifted to U+0100 and up, in byte
    order (so the space, 0x20, is stored as 'Ġ' and the newline as 'Ċ').
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def _visible(text: str) -> str:
    return "".join(_VISIBLE.get(ch, ch) for ch in text)


def readable(token: str, byte_level: bool | None = None) -> str:
    """A vocabulary piece as a person reads it: whitespace made visible (space ·, newline ↵, tab →).

    Byte-level pieces are decoded from their byte alphabet ('ĠcafÃ©' → '·café'; an incomplete UTF-8
    sequence shows its bytes as <0x..>); SentencePiece's '▁' is a space; a WordPiece continuation '##izer'
    reads '…izer'; byte-fallback pieces ('<0xE4>') and special tokens stay as they are.
    """
    if token.startswith("##") and len(token) > 2:
        return "…" + _visible(token[2:])
    table = _byte_level_table()
    if byte_level is None:
        byte_level = any(ch in table and ord(ch) >= 256 for ch in token)
    if byte_level and all(ch in table for ch in token):
        raw = bytes(table[ch] for ch in token)
        try:
            return _visible(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return "".join(_visible(chr(b)) if b < 0x80 else f"<0x{b:02X}>" for b in raw)
    return _visible(token.replace("▁", " "))


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
        sequences.append(Sequence(text, tokens, ids, mask, special, offsets, word_ids, type_ids, decoded, truncated))
    backend = getattr(tok, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None) if backend is not None else None
    byte_level = False
    normalizer_name = ""
    if backend is not None:
        from tui_hf.core.tokenizer_stages import components

        parts = components(backend)
        byte_level = "ByteLevel" in parts["pre_tokenizer"] or "ByteLevel" in parts["decoder"]
        normalizer_name = parts["normalizer"]
    return TokenBreakdown(
        tokenizer_name(tok),
        is_fast,
        settings,
        sequences,
        normalizer,
        normalizer_name,
        tok.unk_token_id,
        tok.unk_token,
        list(getattr(tok, "all_special_tokens", []) or []),
        byte_level,
        declared_limit(tok),
    )


def declared_limit(tok: Any) -> int | None:
    """The tokenizer's model_max_length, None when it has none (tokenizers without one say int(1e30))."""
    value = getattr(tok, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**6 else None


@dataclass
class RoundTrip:
    """Why decode(encode(text)) does or does not give the text back, and where it differs."""

    exact: bool
    reasons: list[str]  # one line each, most telling first
    unknown: int  # tokens that are the unknown token
    unknown_text: list[str]  # the input's characters those unknown tokens stand for (first few)
    diffs: list[tuple[int, str, str]]  # (character in the input, input's text, decoded text), first few

    @property
    def summary(self) -> str:
        return "exact" if self.exact else self.reasons[0] if self.reasons else "differs"


DIFF_CHARS = 5_000  # where differences are looked for (a person reads the first ones; difflib is quadratic)
MAX_DIFFS = 5


def _squash(text: str) -> str:
    return "".join(text.split())


def roundtrip(bd: TokenBreakdown, i: int) -> RoundTrip:
    """Compare input `i` with its decoded ids and say why they differ, from facts: truncation, unknown tokens
    (and the characters behind them), and what each differing stretch is (case, accents, whitespace, special
    token text), so only the causes that are at work in this input are named."""
    seq = bd.sequences[i]
    unk = [
        k
        for k, token_id in enumerate(seq.ids)
        if bd.unk_id is not None and token_id == bd.unk_id and seq.attention_mask[k]
    ]
    unknown_text = [seq.text[a:b] for a, b in (seq.offsets[k] for k in unk[:MAX_DIFFS])] if seq.offsets else []
    if seq.roundtrip_exact:
        return RoundTrip(True, [], len(unk), unknown_text, [])
    diffs = _diffs(seq.text, seq.decoded, limit=50)
    specials = [t for t in bd.special_tokens if t and t in seq.text]
    kinds: set[str] = set()
    for _at, a, b in diffs:
        kinds.add(_kind(a, b, unknown_text, specials))
    normalizer = bd.normalizer_name or "its normalizer"
    reasons: list[str] = []
    if seq.truncated:
        reasons.append("truncated: the ids stop at max_length, so the end of the input is not in them")
    if unk:
        shown = ", ".join(repr(t) for t in unknown_text) or "some characters"
        reasons.append(
            f"{len(unk)} unknown token{'s' if len(unk) > 1 else ''} ({bd.unk_token}): the vocabulary has "
            f"no piece for {shown}, so decoding cannot bring {'them' if len(unk) > 1 else 'it'} back"
        )
    if "special" in kinds:
        reasons.append(
            f"special-token text in the input ({', '.join(specials[:3])}) is read as special tokens, "
            "which decoding skips"
        )
    case_accents = [k for k in ("case", "accents") if k in kinds]
    if case_accents:
        what = " and ".join({"case": "lowercases", "accents": "strips accents"}[k] for k in case_accents)
        reasons.append(
            f"normalization: the tokenizer {what} before splitting ({normalizer}); the ids hold the normalized text"
        )
    if "space" in kinds:
        reasons.append(
            "spacing: whitespace differs (the decoder joins pieces with its own spacing rules, e.g. "
            "around punctuation, or the normalizer changed it)"
        )
    if "other" in kinds and not reasons:
        reasons.append(f"the text changes in ways the normalizer ({normalizer}) or the decoder make")
    return RoundTrip(False, reasons or ["differs"], len(unk), unknown_text, diffs[:MAX_DIFFS])


def _kind(a: str, b: str, unknown_text: list[str], specials: list[str]) -> str:
    """What one differing stretch of input (a) and decoded text (b) is."""
    if any(t and t in a for t in specials):
        return "special"
    if any(t and t.strip() and t.strip() in a for t in unknown_text):
        return "unknown"
    if _squash(a) == _squash(b):
        return "space"
    if _squash(a).lower() == _squash(b):
        return "case"
    if _squash(_strip_accents(a)).lower() == _squash(b) or _squash(_strip_accents(a)) == _squash(b):
        return "accents"
    return "other"


def _strip_accents(text: str) -> str:
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def _diffs(text: str, decoded: str, limit: int = MAX_DIFFS) -> list[tuple[int, str, str]]:
    import difflib

    matcher = difflib.SequenceMatcher(None, text[:DIFF_CHARS], decoded[:DIFF_CHARS], autojunk=False)
    out = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "equal":
            out.append((a0, text[a0:a1], decoded[b0:b1]))
            if len(out) == limit:
                break
    return out


def roundtrip_note(bd: TokenBreakdown, i: int) -> str:
    """One line: "exact", or the main reason decoding does not give input `i` back."""
    return roundtrip(bd, i).summary
