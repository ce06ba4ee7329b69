"""Generation, chat templates and tokenizer comparison in the real app (Pilot), on tiny models: the token cursor
and branches driven by keys and the mouse, several tokenizers at 80x24, the chat template view, scoring, and a
second model beside the first."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, TextArea

from tests.conftest import wait_until
from tests.helpers import PROMPT_TURN, TURNS, llama_like_tokenizer, text_of
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.output import OutputPane

WIDE, SMALL = (140, 44), (80, 24)


async def generate(app: Any, pilot: Any, max_new_tokens: int = 12) -> Any:
    """Run greedy generation of `max_new_tokens` tokens (no early end) and return the finished result."""
    await wait_until(pilot, lambda: app.loaded is not None)
    app.loaded.model.generation_config.eos_token_id = None  # the random model could end early by chance
    app.query_one("#field-max_new_tokens", Input).value = str(max_new_tokens)
    app.query_one("#field-do_sample", Select).value = "off"
    await pilot.press("ctrl+r")
    out = app.query_one(OutputPane)
    await wait_until(pilot, lambda: out.result is not None and out.result.done)
    await wait_until(pilot, lambda: app.query("TracePanel") and app.query_one("TracePanel").result is out.result)
    return out.result


def truth(loaded: Any, ids: list[int], new_tokens: int) -> list[int]:
    """What a plain greedy `generate` writes after `ids`."""
    import torch

    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=False,
            max_new_tokens=new_tokens,
            eos_token_id=None,
            pad_token_id=1,
        )
    return out[0].tolist()[len(ids) :]


@pytest.mark.parametrize("size", [WIDE, SMALL])
async def test_token_cursor_shows_alternatives_and_branches(
    app_settings: Any, tiny_gpt2_dir: Path, size: tuple[int, int]
) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown"))
    async with app.run_test(size=size) as pilot:
        result = await generate(app, pilot)
        trace = result.traces[0]
        original = trace.current.ids
        await pilot.press("f3")  # the Output tab puts the focus on the generated text
        stream = app.query_one("#trace-stream-0")
        await wait_until(pilot, lambda: app.focused is stream)
        detail = app.query_one("#trace-detail")
        assert "token 1/12" in text_of(detail, width=size[0]) and "rank 1" in text_of(detail, width=size[0])
        await pilot.press("right", "right")
        shown = text_of(detail, width=size[0])
        third = trace.current.tokens[2]
        assert "token 3/12" in shown and f"p {third.probability:.3f}" in shown
        assert f"2 {third.top[1].readable!r}" in shown.replace("→", " ").replace("●", " ")  # the runner-up
        # The mouse: a click on the 6th token puts the cursor there.
        x, y = stream.offset_of(0, 5)
        await pilot.click(stream, offset=(x, y))
        assert stream.cursor == (0, 5) and "token 6/12" in text_of(detail, width=size[0])
        await pilot.press("left", "left", "left")
        # Choosing the runner-up at the 3rd token grows a branch: as greedy generate from the edited prefix.
        runner_up = trace.current.tokens[2].top[1].id
        await pilot.press("2")
        await wait_until(pilot, lambda: len(trace.branches) == 2 and trace.branches[1].stop != "")
        branch = trace.branches[1]
        expected = original[:2] + [runner_up] + truth(app.loaded, trace.prompt_ids + original[:2] + [runner_up], 9)
        assert trace.active == branch.id and branch.ids == expected
        assert result.sequences[0] == branch.text  # Copy and Raw JSON follow the branch shown
        assert "branch 2/2" in text_of(detail, width=size[0])
        # [ goes back to the first branch; choosing the runner-up again switches to its branch, no new one.
        await pilot.press("left_square_bracket")
        assert trace.current.ids == original and result.sequences[0] == trace.current.text
        await pilot.press("2")
        await pilot.pause()
        assert len(trace.branches) == 2 and trace.active == branch.id


async def test_cancel_stops_a_growing_branch(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown"))
    async with app.run_test(size=WIDE) as pilot:
        result = await generate(app, pilot, max_new_tokens=900)
        trace = result.traces[0]
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.focused is app.query_one("#trace-stream-0"))
        # Each step of the branch takes a few ms more, so 899 tokens outlast the key press on a fast machine
        # (generation runs at model.generate's pace: the tiny model writes them in about a second).
        model, forward = app.loaded.model, app.loaded.model.forward
        model.forward = lambda *a, **kw: (time.sleep(0.005), forward(*a, **kw))[1]
        await pilot.press("2")  # the runner-up at the first token: a branch of 899 more tokens starts growing
        await wait_until(pilot, lambda: len(trace.branches) == 2 and len(trace.branches[1].tokens) > 1)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: trace.branches[1].stop != "")
        assert trace.branches[1].stop == "cancelled" and len(trace.branches[1].tokens) < 900


async def test_compare_three_tokenizers_at_80x24(
    app_settings: Any, tiny_gpt2_dir: Path, unigram_model_dir: Path
) -> None:
    app = make_app(app_settings(text="The quick brown fox 🤗"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        await pilot.press("f5")
        field = app.query_one("#compare-ref", Input)
        field.value = f"{tiny_gpt2_dir}, {unigram_model_dir}"
        await pilot.click("#compare-load")
        pane = app.query_one("#compare-pane")
        table = app.query_one("#compare-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        tokenizers = [app.tokenizer, *(tok for _ref, tok in pane.others)]
        rows = [table.get_row_at(k) for k in range(3)]
        for row, tok in zip(rows, tokenizers):
            assert int(row[2]) == len(tok("The quick brown fox 🤗")["input_ids"])  # each one's own count
        assert [row[4] for row in rows] == ["1", "0", "0"]  # 🤗 is [UNK] only for the WordPiece vocabulary
        assert rows[0][6] == "≈ 1 unknown token ([UNK])" and rows[1][6] == rows[2][6] == "exact"
        summary = text_of(app.query_one("#compare-summary"))
        assert summary.startswith(f"{rows[0][2]} vs {rows[1][2]} vs {rows[2][2]} tokens")
        # The current tokenizer's split and the highlighted row's, side by side, both readable at 80x24.
        for slot in ("a", "b"):
            view = app.query_one(f"#compare-{slot}")
            assert view.region.height >= 3 and app.screen.region.contains_region(view.region)
        assert app.query_one("#compare-a").breakdown is pane.stats[0].breakdown
        assert app.query_one("#compare-b").breakdown is pane.stats[table.cursor_row].breakdown
        table.focus()
        table.move_cursor(row=1)
        await wait_until(pilot, lambda: app.query_one("#compare-b").breakdown is pane.stats[1].breakdown)
        await pilot.press("space")  # pinned: its split stays while the cursor moves on
        await pilot.press("down")
        await wait_until(pilot, lambda: app.query_one("#compare-slot-c").display)
        assert app.query_one("#compare-c").breakdown is pane.stats[1].breakdown
        # The input changes: every row follows.
        await pilot.press("f2")
        app.query_one("#input-text", TextArea).text = "hello"
        await pilot.press("f5")
        await wait_until(pilot, lambda: int(table.get_row_at(1)[2]) == len(tokenizers[1]("hello")["input_ids"]))
        table.focus()  # F5 puts the focus in the field that adds tokenizers; the table's keys need the table
        removed = pane.others[table.cursor_row - 1][0]
        three = list(pane.stats)  # what a comparison started before the removal delivers after it
        started = pane._generation
        await pilot.press("delete")
        await wait_until(pilot, lambda: table.row_count == 2)
        assert removed not in [ref for ref, _tok in pane.others]
        pane.post_message(pane.Compared(three, started))
        await pilot.pause(0.3)
        assert table.row_count == 2 and len(pane.stats) == 2  # dropped: not a third row, not an IndexError


@pytest.fixture(scope="module")
def unigram_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory whose tokenizer is SentencePiece-style Unigram with byte fallback (a config beside it is
    what makes it a model directory)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, PreTrainedTokenizerFast

    words = ["▁the", "▁quick", "▁brown", "▁fox", "▁", "t", "h", "e", "o"]
    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    vocab += [(w, -1.0 - k * 0.1) for k, w in enumerate(words)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    )
    path = tmp_path_factory.mktemp("unigram-model")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>").save_pretrained(
        path
    )
    GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=1, n_head=1).save_pretrained(path)
    return path


async def test_chat_template_view_follows_the_conversation(app_settings: Any, tiny_chat_dir: Path) -> None:
    app = make_app(app_settings(task="conversational", model=str(tiny_chat_dir), text="hello there"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-max_new_tokens", Input).value = "4"
        tokens = app.query_one("#tokens-pane")
        app.query_one("#tok-table").focus()
        await pilot.press("v", "v")  # split → stages → chat template (the view row is hidden at 80x24)
        await wait_until(pilot, lambda: tokens.template is not None)
        view = app.query_one("#tok-template")
        assert view.display and not app.query_one("#tok-text").display
        shown = "\n".join("".join(p.text for p in line) for line in view.lines)
        assert shown == "<|user|>hello there\n<|assistant|>"  # the template's text: what the model reads
        summary = text_of(app.query_one("#tok-summary"), width=200)
        assert "generation prompt '<|assistant|>'" in summary and "no assistant mask" in summary
        assert "{% generation %}" in text_of(app.query_one("#tok-roundtrip"), width=300)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.chat_history) == 2)
        app.query_one("#input-text", TextArea).text = "and again"
        await wait_until(pilot, lambda: tokens.template is not None and len(tokens.template.messages) == 3)
        reply = app.chat_history[1]["content"]
        assert tokens.template.text == f"<|user|>hello there\n<|assistant|>{reply}\n<|user|>and again\n<|assistant|>"
        # Not a chat: the view goes back to the split and the choice is gone.
        await pilot.press("ctrl+t")
        options = app.query_one("#tasks")
        options.highlighted = [o.id for o in options.options].index("text-generation")
        await pilot.press("enter")
        await wait_until(pilot, lambda: tokens.conversation is None and tokens.view == "split")


async def test_score_in_the_app(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown fox"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-score", Checkbox).value = True
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(pilot, lambda: out.result is not None and hasattr(out.result, "perplexity"))
        await wait_until(pilot, lambda: app.query("TracePanel") and app.query_one("TracePanel").result is out.result)
        # The independent truth: the mean loss of a plain forward pass with the ids as labels.
        import torch

        ids = app.tokenizer("The quick brown fox", return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            loss = float(app.loaded.model(input_ids=ids, labels=ids).loss)
        head = text_of(app.query_one("#trace-head"), width=140)
        assert f"perplexity {math.exp(loss):.3f}" in head and f"mean NLL {loss:.4f}" in head
        await pilot.press("f3")
        detail = app.query_one("#trace-detail")
        await wait_until(pilot, lambda: "token 2/" in text_of(detail, width=140))  # the first is context
        assert f"log p {out.result.trace.current.tokens[1].logprob:.2f}" in text_of(detail, width=140)


async def test_two_models_side_by_side(app_settings: Any, tiny_gpt2_dir: Path, tiny_chat_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-second_model", Input).value = str(tiny_chat_dir)
        result = await generate(app, pilot, max_new_tokens=6)
        assert result.beside is not None and result.beside.traces
        assert app.query_one("#trace-column-1").display
        titles = [text_of(app.query_one(f"#trace-title-{k}")) for k in range(2)]
        assert result.model in titles[0] and result.beside.model in titles[1]
        second = app.query_one("#trace-stream-1")
        x, y = second.offset_of(0, 0)
        await pilot.click(second, offset=(x, y))
        token = result.beside.traces[0].current.tokens[0]
        assert f"p {token.probability:.3f}" in text_of(app.query_one("#trace-detail"), width=140)


@pytest.fixture(scope="module")
def bos_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chat model whose tokenizer adds <s> (SentencePiece-style Unigram with byte fallback, as Llama's) and
    whose template writes {{ bos_token }} too: encoding the rendered chat with tokenizer(text) doubles it."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    fast = llama_like_tokenizer()
    fast.chat_template = "{{ bos_token }}" + TURNS + PROMPT_TURN
    path = tmp_path_factory.mktemp("bos-chat")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(vocab_size=len(fast), n_embd=16, n_layer=1, n_head=1, bos_token_id=1, eos_token_id=2)
    ).save_pretrained(path)
    return path


async def test_chat_template_warnings_at_80x24(app_settings: Any, bos_chat_dir: Path) -> None:
    app = make_app(app_settings(task="conversational", model=str(bos_chat_dir), text="hello there"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        tokens = app.query_one("#tokens-pane")
        app.query_one("#tok-table").focus()
        await pilot.press("v", "v")
        await wait_until(pilot, lambda: tokens.template is not None)
        notes = app.query_one("#tok-roundtrip")
        # What the model reads has one <s>: the ids apply_chat_template(tokenize=True) gives, independently.
        expected = app.tokenizer.apply_chat_template(
            [{"role": "user", "content": "hello there"}], add_generation_prompt=True, tokenize=True, return_dict=True
        )
        assert tokens.template.breakdown.sequences[0].ids == list(expected["input_ids"])
        assert app.tokenizer(tokens.template.text)["input_ids"][:2] == [1, 1]  # tokenizer(text) doubles it
        assert "⚠ doubled BOS" in text_of(notes, width=300)
        # The same tokenizer with a template that writes no generation prompt (as a model without one would).
        app.tokenizer.chat_template = TURNS
        app.query_one("#input-text", TextArea).text = "hello"
        await wait_until(
            pilot, lambda: tokens.template is not None and tokens.template.messages[-1]["content"] == "hello"
        )
        shown = text_of(notes, width=300)
        assert "⚠ no generation prompt" in shown and "doubled BOS" not in shown
        # No template at all: said in the summary, in place of the tokens.
        app.tokenizer.chat_template = None
        app.query_one("#input-text", TextArea).text = "hello there"
        await wait_until(pilot, lambda: tokens.template is not None and not tokens.template.available)
        assert "has no chat template" in text_of(app.query_one("#tok-summary"), width=300)


def test_control_characters_in_generated_text_are_drawn_as_pictures() -> None:
    """A random model writes bells, carriage returns and escapes: raw, they would move the terminal's cursor."""
    from tui_hf.core.generation.trace import Branch, Trace, TracedToken
    from tui_hf.ui.inference.trace import Block, Column, layout

    tokens = [TracedToken(k, t, t, 0.5) for k, t in enumerate(["a\x07", "\r", "\x1b[2J", "\x85b\nc"])]
    trace = Trace("", [], [Branch(0, None, 0, tokens)])
    lines = layout(Column("m", [Block(trace)]), 40)
    drawn = ["".join(cell.text for cell in line) for line in lines]
    assert drawn == ["a␇␍␛[2J�b", "c"]
