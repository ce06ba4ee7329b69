"""Tokenizer internals: the stages, the real vocabulary pieces, and why a round trip differs.

One tokenizer per family: WordPiece (the shipped MiniLM), byte-level BPE (trained in conftest), SentencePiece
style Unigram with byte fallback (built here), and a slow Python tokenizer (ByT5, which needs no files).
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Select, TextArea

from tests.conftest import wait_until
from tui_hf.core.tokenizer_stages import stages
from tui_hf.core.tokens import breakdown, readable, roundtrip
from tui_hf.ui.app import make_app


@pytest.fixture(scope="session")
def unigram_tokenizer() -> Any:
    """A SentencePiece-style Unigram tokenizer ('▁' marks spaces) that falls back to UTF-8 bytes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["▁the", "▁quick", "▁brown", "▁fox", "▁dog", "▁", "t", "h", "e", "o", "g", "d"]
    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    vocab += [(w, -1.0 - k * 0.1) for k, w in enumerate(words)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    # How Llama-style tokenizers decode: '▁' back to spaces, bytes back to characters, the first space dropped.
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


# -- the stages ----------------------------------------------------------------------------------------


def test_wordpiece_stages_follow_the_course_example(bert_tokenizer: Any) -> None:
    st = stages(bert_tokenizer, "Using LowerCase")
    assert st.available and st.normalizer.startswith("BertNormalizer") and "lowercase" in st.normalizer
    assert st.normalized == "using lowercase" and st.changed_by_normalizer
    assert st.splits == [("using", (0, 5)), ("lowercase", (6, 15))]
    assert st.pieces == [["using"], ["lower", "##case"]]  # the Hugging Face course's own example
    assert st.model.startswith("WordPiece") and "##" in st.model
    assert st.template_single == "[CLS] $A [SEP]"
    assert st.template_pair == "[CLS] $A [SEP] $B:1 [SEP]:1"
    assert st.added_tokens == ["[CLS]", "[SEP]"]


def test_byte_level_stages_show_the_byte_alphabet(bpe_tokenizer: Any) -> None:
    st = stages(bpe_tokenizer, "the quick fox")
    words = [w for w, _ in st.splits]
    assert words == ["the", "Ġquick", "Ġfox"]  # a space is stored as 'Ġ' (byte 0x20 moved to U+0120)
    for word, pieces in zip(words, st.pieces):
        assert "".join(pieces) == word  # BPE pieces spell their word exactly
    assert "ByteLevel" in st.pre_tokenizer


def test_byte_fallback_spells_unknown_characters_as_utf8_bytes(unigram_tokenizer: Any) -> None:
    st = stages(unigram_tokenizer, "the 中")
    assert st.splits[0][0] == "▁the"
    # 中 is U+4E2D, in UTF-8 the three bytes E4 B8 AD: the vocabulary has none of it, so bytes it is.
    assert st.pieces[-1] == ["▁", "<0xE4>", "<0xB8>", "<0xAD>"]
    assert "byte fallback" in st.model
    bd = breakdown(unigram_tokenizer, ["the 中"])
    trip = roundtrip(bd, 0)
    assert trip.exact and trip.unknown == 0  # the bytes decode back: nothing is lost


def assert_rows_hold_the_encoding(tok: Any, text: str, st: Any, spell: Any) -> None:
    """Every piece of the tokenizer's own encoding is in the rows, in order, and each word's pieces spell it."""
    own = [t for t, seq in zip(tok(text).tokens(), tok(text).sequence_ids()) if seq is not None]
    shown = [p for pieces in st.pieces for p in pieces]
    assert [p.strip() for p in shown] == [p.strip() for p in own]  # an lstrip token's own string has its space
    for row, ((word, _), pieces) in enumerate(zip(st.splits, st.pieces)):
        assert pieces, f"row {row} {word!r} has no pieces"
        if row not in st.matched:
            assert spell(pieces) == word, (word, pieces)


def test_a_special_token_inside_a_word_has_its_own_row_and_the_rows_after_line_up(bert_tokenizer: Any) -> None:
    """The reported view: XY[MASK]Hugging Face showed the words [ / mask / ] beside [MASK] / hugging / face."""
    text = "XY[MASK]Hugging Face is here"
    st = stages(bert_tokenizer, text)
    assert st.splits == [
        ("xy", (0, 2)),
        ("[MASK]", (2, 8)),
        ("hugging", (8, 15)),
        ("face", (16, 20)),
        ("is", (21, 23)),
        ("here", (24, 28)),
    ]
    assert st.pieces == [["x", "##y"], ["[MASK]"], ["hugging"], ["face"], ["is"], ["here"]]
    assert st.matched == {1} and st.added_tokens == ["[CLS]", "[SEP]"]
    assert st.normalized == "xy[MASK]hugging face is here"  # the normalizer never sees [MASK]: not lowercased
    for word, (start, end) in st.splits:  # offsets in the text as typed
        assert text[start:end].lower() == word.lower()
    assert_rows_hold_the_encoding(bert_tokenizer, text, st, lambda ps: "".join(p.removeprefix("##") for p in ps))


def test_added_tokens_are_rows_of_their_own(minilm_dir: Any) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_dir)  # a copy: the session's tokenizer stays as it is
    tok.add_tokens(["huggingface", "tui-hf"])  # normalized: found in the lowercased text
    text = "I love HuggingFace, [SEP] and tui-hf!"
    st = stages(tok, text)
    assert st.splits == [
        ("i", (0, 1)),
        ("love", (2, 6)),
        ("huggingface", (7, 18)),
        (",", (18, 19)),
        ("[SEP]", (20, 25)),
        ("and", (26, 29)),
        ("tui-hf", (30, 36)),
        ("!", (36, 37)),
    ]
    assert st.matched == {2, 4, 6}
    assert_rows_hold_the_encoding(tok, text, st, lambda ps: "".join(p.removeprefix("##") for p in ps))


def test_byte_level_rows_with_a_mask_that_swallows_the_space_before_it() -> None:
    from pathlib import Path

    from transformers import AutoTokenizer

    # RoBERTa's <mask> strips the whitespace on its left; 'Ġ' pieces come with an empty span (offsets trimmed).
    tok = AutoTokenizer.from_pretrained(Path(__file__).parent / "reference" / "models" / "qa-roberta-bpe")
    text = "a  <mask>  b Hello<mask> world"
    st = stages(tok, text)
    assert st.splits == [
        ("a", (0, 1)),
        ("<mask>", (1, 9)),
        ("Ġ", (9, 10)),
        ("Ġb", (10, 12)),
        ("ĠHello", (12, 18)),
        ("<mask>", (18, 24)),
        ("Ġworld", (24, 30)),
    ]
    assert st.pieces[2] == ["Ġ"] and st.pieces[3] == ["Ġ", "b"]
    assert st.matched == {1, 5} and st.normalized == text
    assert_rows_hold_the_encoding(tok, text, st, "".join)


def test_unigram_rows_around_an_added_special_token() -> None:
    from tests.helpers import llama_like_tokenizer

    tok = llama_like_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|user|>"]})
    text = "the fox<|user|>hello there<|user|>"
    st = stages(tok, text)
    assert [w for w, _ in st.splits] == ["▁the", "▁fox", "<|user|>", "▁hello", "▁there", "<|user|>"]
    assert st.matched == {2, 5} and st.added_tokens == ["<s>"]
    assert_rows_hold_the_encoding(tok, text, st, "".join)


def test_slow_tokenizer_says_why_there_are_no_stages() -> None:
    from transformers import ByT5Tokenizer

    st = stages(ByT5Tokenizer(), "hello")
    assert not st.available and "slow" in st.reason and "tokenizer.json" in st.reason


# -- real pieces and their readable form -------------------------------------------------------------


def test_breakdown_keeps_the_vocabulary_strings(bert_tokenizer: Any, bpe_tokenizer: Any) -> None:
    assert "##case" in breakdown(bert_tokenizer, ["lowercase"]).sequences[0].tokens
    bd = breakdown(bpe_tokenizer, ["the quick"])
    assert "Ġqu" in bd.sequences[0].tokens and bd.byte_level  # the small trained vocabulary splits "quick"


@pytest.mark.parametrize(
    ("piece", "byte_level", "shown"),
    [
        ("Ġthe", True, "·the"),
        ("ĠcafÃ©", True, "·café"),  # the UTF-8 bytes of é (C3 A9) in the byte alphabet
        ("Ċ", True, "↵"),
        ("Ã", True, "<0xC3>"),  # half of a character: its byte, not a wrong letter
        ("▁the", False, "·the"),
        ("##case", False, "…case"),
        ("<0xE4>", False, "<0xE4>"),
        ("[CLS]", False, "[CLS]"),
    ],
)
def test_readable_pieces(piece: str, byte_level: bool, shown: str) -> None:
    assert readable(piece, byte_level) == shown


# -- the round trip explained -------------------------------------------------------------------------


def test_round_trip_names_the_causes_at_work(bert_tokenizer: Any) -> None:
    texts = ["Héllo WORLD", "emoji 🤗 here", "hello , world", "[CLS] is special", "plain words"]
    bd = breakdown(bert_tokenizer, texts)
    accents, unknown, spacing, special, plain = (roundtrip(bd, i) for i in range(len(texts)))
    assert "lowercases" in accents.reasons[0] and "strips accents" in accents.reasons[0]
    assert (0, "Hé", "he") in accents.diffs
    assert unknown.unknown == 1 and unknown.unknown_text == ["🤗"] and "[UNK]" in unknown.reasons[0]
    assert spacing.reasons == [spacing.reasons[0]] and spacing.reasons[0].startswith("spacing")
    assert special.reasons[0].startswith("special-token text") and "[CLS]" in special.reasons[0]
    assert plain.exact and plain.summary == "exact"


def test_truncation_is_a_reason(bert_tokenizer: Any) -> None:
    from tui_hf.core.tokens import TokenizeSettings

    bd = breakdown(bert_tokenizer, ["one two three four five six"], TokenizeSettings(truncation=True, max_length=4))
    assert roundtrip(bd, 0).reasons[0].startswith("truncated")


# -- in the app ----------------------------------------------------------------------------------------


async def test_tokens_pane_shows_real_pieces_stages_and_readable_form(app_settings: Any) -> None:
    app = make_app(app_settings(text="Using lowercase"))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        table = app.query_one("#tok-table")
        assert any(table.row_text(r).split()[2] == "##case" for r in range(len(table.rows)))
        app.query_one("#tok-readable").value = True
        await pilot.pause()
        assert any(table.row_text(r).split()[2] == "…case" for r in range(len(table.rows)))
        app.query_one("#tok-view", Select).value = "stages"
        view = app.query_one("#tok-stages")
        await wait_until(pilot, lambda: view.display and len(view.lines) > 5)
        text = "\n".join("".join(t for t, _ in line) for line in view.lines)
        assert "BertNormalizer" in text and "using lowercase" in text and "[CLS] $A [SEP]" in text
        assert "…case" in text  # the readable toggle applies to the stages too
        area = app.query_one("#input-text", TextArea)
        area.text = "Tokenization"
        await wait_until(pilot, lambda: "tokenization" in "\n".join("".join(t for t, _ in l) for l in view.lines))


async def test_stages_view_lines_up_the_words_after_a_special_token(app_settings: Any) -> None:
    """Tokens → v with [MASK] inside the text: each word beside its own pieces, every row after it too."""
    app = make_app(app_settings(text="XY[MASK]Hugging Face is here"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.press("f2", "v")
        view = app.query_one("#tok-stages")
        await wait_until(pilot, lambda: view.display and len(view.lines) > 5)
        rows = ["".join(t for t, _ in line).split() for line in view.lines]
        words = rows[rows.index(next(r for r in rows if r[:2] == ["3", "model"])) + 1 :][:6]
        assert words == [
            ["xy", "0:2", "x", "##y"],
            ["[MASK]", "2:8", "[MASK]", "added", "token"],
            ["hugging", "8:15", "hugging"],
            ["face", "16:20", "face"],
            ["is", "21:23", "is"],
            ["here", "24:28", "here"],
        ]


async def test_clearing_the_input_clears_the_stages(app_settings: Any) -> None:
    app = make_app(app_settings(text="Tokenization rocks"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.press("f2", "v")
        view = app.query_one("#tok-stages")
        shown = lambda: "\n".join("".join(t for t, _ in line) for line in view.lines)  # noqa: E731
        await wait_until(pilot, lambda: "rocks" in shown())
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: app.breakdown is None)
        await pilot.pause(0.2)
        assert "rocks" not in shown() and "Type in the input box" in shown()
        await pilot.press("ctrl+z")  # the text comes back, and its stages with it
        await wait_until(pilot, lambda: "rocks" in shown())


async def test_the_stages_rows_are_reached_by_keyboard_at_80x24(app_settings: Any) -> None:
    app = make_app(app_settings(text="XY[MASK]Hugging Face is here, and a few more words to make rows"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.press("f2", "v")
        view = app.query_one("#tok-stages")
        await wait_until(pilot, lambda: view.display and len(view.lines) > 10)
        await pilot.press("shift+tab")  # from the token table back to the stages
        assert app.focused is view
        assert view.max_scroll_y > 0  # more rows than the box shows at this size
        await pilot.press("end")
        await wait_until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y)
        rows = ["".join(t for t, _ in line) for line in view.lines]
        assert rows[-1].startswith("decoder")  # the last row is on screen
