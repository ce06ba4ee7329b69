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
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1)])
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


def test_slow_tokenizer_says_why_there_are_no_stages() -> None:
    from transformers import ByT5Tokenizer

    st = stages(ByT5Tokenizer(), "hello")
    assert not st.available and "slow" in st.reason and "tokenizer.json" in st.reason


# -- real pieces and their readable form -------------------------------------------------------------


def test_breakdown_keeps_the_vocabulary_strings(bert_tokenizer: Any, bpe_tokenizer: Any) -> None:
    assert "##case" in breakdown(bert_tokenizer, ["lowercase"]).sequences[0].tokens
    bd = breakdown(bpe_tokenizer, ["the quick"])
    assert "Ġqu" in bd.sequences[0].tokens and bd.byte_level  # the small trained vocabulary splits "quick"


@pytest.mark.parametrize(("piece", "byte_level", "shown"), [
    ("Ġthe", True, "·the"),
    ("ĠcafÃ©", True, "·café"),  # the UTF-8 bytes of é (C3 A9) in the byte alphabet
    ("Ċ", True, "↵"),
    ("Ã", True, "<0xC3>"),  # half of a character: its byte, not a wrong letter
    ("▁the", False, "·the"),
    ("##case", False, "…case"),
    ("<0xE4>", False, "<0xE4>"),
    ("[CLS]", False, "[CLS]"),
])
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
