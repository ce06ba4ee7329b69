"""The tokenizer breakdown on the real MiniLM WordPiece tokenizer and a byte-level BPE one."""

from __future__ import annotations

from typing import Any

from tui_hf.core.tokens import (
    TokenizeSettings,
    breakdown,
    readable,
    roundtrip_note,
)


def test_breakdown_lists_every_token_with_ids_offsets_and_word_ids(bert_tokenizer: Any) -> None:
    bd = breakdown(bert_tokenizer, ["Hello world, tokenization!"])
    seq = bd.sequences[0]
    assert seq.tokens == ["[CLS]", "hello", "world", ",", "token", "##ization", "!", "[SEP]"]
    assert seq.ids[0] == bert_tokenizer.cls_token_id and seq.ids[-1] == bert_tokenizer.sep_token_id
    assert seq.special == [True, False, False, False, False, False, False, True]
    assert seq.offsets[4] == (13, 18) and seq.offsets[5] == (18, 25)
    assert seq.word_ids[4] == seq.word_ids[5] == 3  # "token" + "##ization" are one word
    assert seq.attention_mask == [1] * 8
    assert bd.total_tokens == 8 and bd.total_chars == 26


def test_pieces_rebuild_the_input_exactly(bert_tokenizer: Any) -> None:
    text = "Tokenizers  split   text, don't they?"
    seq = breakdown(bert_tokenizer, [text]).sequences[0]
    rebuilt = "".join(p for p, _i, kind in seq.pieces() if kind in ("token", "gap"))
    assert rebuilt == text
    assert [p for p, _i, kind in seq.pieces() if kind == "special"] == ["[CLS]", "[SEP]"]


def test_batch_is_padded_and_masked(bert_tokenizer: Any) -> None:
    texts = ["a short one", "a much longer input sentence than the first one"]
    bd = breakdown(bert_tokenizer, texts)
    short, long = bd.sequences
    assert len(short.ids) == len(long.ids) == bd.padded_length
    pads = [t for t, m in zip(short.tokens, short.attention_mask) if m == 0]
    assert pads and set(pads) == {"[PAD]"}
    assert all(long.attention_mask)
    # the count the tokenizer itself gives, padding excluded
    assert bd.total_tokens == sum(len(bert_tokenizer(t)["input_ids"]) for t in texts) == 5 + 11


def test_truncation_and_max_length_padding(bert_tokenizer: Any) -> None:
    text = "one two three four five six seven eight nine ten"
    truncated = breakdown(bert_tokenizer, [text], TokenizeSettings(truncation=True, max_length=6)).sequences[0]
    assert len(truncated.ids) == 6 and truncated.truncated and truncated.tokens[-1] == "[SEP]"
    padded = breakdown(bert_tokenizer, ["hi"], TokenizeSettings(padding="max_length", max_length=8)).sequences[0]
    assert len(padded.ids) == 8 and padded.attention_mask == [1, 1, 1, 0, 0, 0, 0, 0]


def test_special_tokens_can_be_left_out(bert_tokenizer: Any) -> None:
    seq = breakdown(bert_tokenizer, ["hello"], TokenizeSettings(add_special_tokens=False)).sequences[0]
    assert seq.tokens == ["hello"]


def test_roundtrip_explains_lowercasing(bert_tokenizer: Any) -> None:
    bd = breakdown(bert_tokenizer, ["Hello World", "hello world"])
    assert roundtrip_note(bd, 0).startswith("normalization: the tokenizer lowercases")
    assert roundtrip_note(bd, 1) == "exact"


def test_token_at_maps_characters_back_to_tokens(bert_tokenizer: Any) -> None:
    seq = breakdown(bert_tokenizer, ["Hello world, tokenization!"]).sequences[0]
    assert seq.token_at(0) == 1 and seq.token_at(4) == 1
    assert seq.token_at(5) is None  # the space
    assert seq.token_at(20) == 5  # inside "ization"
    assert seq.token_at(25) == 6


def test_bpe_markers_are_made_readable(bpe_tokenizer: Any) -> None:
    seq = breakdown(bpe_tokenizer, ["the quick fox"]).sequences[0]
    assert any(t.startswith("Ġ") for t in seq.tokens)
    assert all("Ġ" not in readable(t) for t in seq.tokens)
    assert readable("##ing") == "…ing" and readable("Ġthe") == "·the" and readable("▁the") == "·the"
    assert seq.roundtrip_exact


def test_the_coloured_text_wraps_wide_characters_by_their_cells(bert_tokenizer: Any) -> None:
    """CJK characters take two terminal cells: a line cut by characters would spill past the pane's edge."""
    from rich.cells import cell_len

    from tui_hf.ui.inference.tokens import wrap

    text = "東京は日本の首都です" * 3 + " and some ascii words"
    bd = breakdown(bert_tokenizer, [text])
    for width in (9, 10, 17):
        lines = wrap(bd, width)
        assert all(sum(cell_len(p.text) for p in line) <= width for line in lines), width
        assert "".join(p.text for line in lines for p in line if p.kind in ("token", "gap")) == text
        assert max(sum(cell_len(p.text) for p in line) for line in lines) >= width - 1  # lines are filled
