"""Generation at the pace of model.generate: the app's text generation, chat and seq2seq stream from generate's own
thread and record each token, and still give model.generate's tokens, the model's own probabilities (a forward
pass per position, computed here), partial results as tokens arrive, and a cancel that stops the model.

The models here have a real 30,522-entry vocabulary (the embedded MiniLM's WordPiece): a nearly flat distribution
over it puts sampled tokens far outside the recorded top 10."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHAT_TEMPLATE
from tui_hf.core.errors import Cancelled

PROMPT = "The quick brown fox"


def load(path: Path, task: str) -> Any:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load as load_model
    from tui_hf.core.tasks import get_task

    loaded = load_model(resolve(parse_ref(str(path))), get_task(task), "cpu")
    loaded.model.generation_config.eos_token_id = None  # every run the full length: a random model may stop
    return loaded


def run(loaded: Any, task: str, texts: list[str], options: dict[str, Any] | None = None, **kw: Any) -> Any:
    from tui_hf.core.tasks import get_task

    return get_task(task).load_runner()(loaded, texts, options, **kw)


@pytest.fixture(scope="module")
def wide_vocab_dirs(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> dict[str, Path]:
    """A GPT-2 with a chat template and a BART, both tiny, over the 30,522-entry WordPiece vocabulary."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

    # as a GPT-2 tokenizer: no token type ids (GPT-2 would read them as more embeddings)
    tok = AutoTokenizer.from_pretrained(str(minilm_dir), model_input_names=["input_ids", "attention_mask"])
    tok.chat_template = CHAT_TEMPLATE
    root = tmp_path_factory.mktemp("wide-vocab")
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=256,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            tie_word_embeddings=False,
        )
    ).save_pretrained(root / "gpt2")
    BartForConditionalGeneration(
        BartConfig(
            vocab_size=len(tok),
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            max_position_embeddings=128,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            decoder_start_token_id=tok.cls_token_id,
            forced_eos_token_id=None,
        )
    ).save_pretrained(root / "bart")
    for name in ("gpt2", "bart"):
        tok.save_pretrained(root / name)
    return {"gpt2": root / "gpt2", "bart": root / "bart"}


@pytest.fixture(scope="module")
def gpt(wide_vocab_dirs: dict[str, Path]) -> Any:
    return load(wide_vocab_dirs["gpt2"], "text-generation")


@pytest.fixture(scope="module")
def chat(wide_vocab_dirs: dict[str, Path]) -> Any:
    return load(wide_vocab_dirs["gpt2"], "conversational")


@pytest.fixture(scope="module")
def bart(wide_vocab_dirs: dict[str, Path]) -> Any:
    return load(wide_vocab_dirs["bart"], "summarization")


@pytest.fixture
def every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partial results at every token, not at a reader's pace (1/15 s): each step can be checked."""
    from tui_hf.core.generation.trace import Every

    monkeypatch.setattr(Every, "__call__", lambda self: True)


def forward_threads(loaded: Any) -> tuple[list[int], Any]:
    """The threads the model's forward passes ran on (and the hook, to remove)."""
    seen: list[int] = []
    hook = loaded.model.register_forward_hook(lambda *_args: seen.append(threading.get_ident()))
    return seen, hook


def bare_generate(loaded: Any, inputs: dict[str, Any], **settings: Any) -> list[int]:
    import torch

    with torch.inference_mode():
        out = loaded.model.generate(**inputs, do_sample=False, **settings)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def check_distribution(loaded: Any, context: list[int], tokens: list[Any], sampled: bool = False) -> None:
    """Each token's probability, rank and top 10 (ids and vocabulary strings) against the softmax of the model's
    logits at its position."""
    import torch

    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([context + [t.id for t in tokens]])).logits[0].float()
    for k, t in enumerate(tokens):
        probs = logits[len(context) - 1 + k].softmax(-1)
        top = probs.topk(10)
        assert t.probability == pytest.approx(float(probs[t.id]), abs=1e-5)
        assert t.rank == int((probs > probs[t.id]).sum()) + 1
        assert [a.id for a in t.top] == top.indices.tolist()
        ids = [t.id] + [a.id for a in t.top]
        assert [t.token] + [a.token for a in t.top] == loaded.tokenizer.convert_ids_to_tokens(ids)
        assert [a.probability for a in t.top] == pytest.approx(top.values.tolist(), abs=1e-5)
        if not sampled:
            assert t.rank == 1


def test_streamed_generation_is_model_generate_token_for_token(gpt: Any, every_token: None) -> None:
    """Greedy: model.generate's tokens, the model's own distribution at each, a partial result after every token
    (the k-th one holds k tokens, the start of the final text), and the model runs on the caller's thread."""
    partials: list[Any] = []
    threads, hook = forward_threads(gpt)
    try:
        result = run(gpt, "text-generation", [PROMPT], {"max_new_tokens": 12, "do_sample": False}, emit=partials.append)
    finally:
        hook.remove()
    prompt_ids = gpt.tokenizer(PROMPT)["input_ids"]
    tokens = result.traces[0].current.tokens
    assert [t.id for t in tokens] == bare_generate(gpt, gpt.tokenizer(PROMPT, return_tensors="pt"), max_new_tokens=12)
    check_distribution(gpt, prompt_ids, tokens)
    assert [len(p.traces[0].current.tokens) for p in partials] == list(range(1, 13))
    for p in partials:
        shown = p.traces[0].current.tokens
        assert [t.id for t in shown] == [t.id for t in tokens[: len(shown)]] and not p.done
        assert result.sequences[0].startswith(p.sequences[0].rstrip())
    assert set(threads) == {threading.get_ident()}  # no generate thread, no queue between it and the caller


def test_sampled_tokens_far_down_the_distribution_keep_their_rank(gpt: Any) -> None:
    """A random model at temperature 2 over 30k entries draws tokens outside the top 10: their probability and
    rank come from the whole distribution."""
    result = run(
        gpt, "text-generation", [PROMPT], {"max_new_tokens": 12, "do_sample": True, "temperature": 2.0, "seed": 1}
    )
    tokens = result.traces[0].current.tokens
    assert max(t.rank for t in tokens) > 10
    check_distribution(gpt, gpt.tokenizer(PROMPT)["input_ids"], tokens, sampled=True)


def test_streamed_chat_reply_is_model_generate_token_for_token(chat: Any, every_token: None) -> None:
    partials: list[Any] = []
    result = run(chat, "conversational", [PROMPT], {"max_new_tokens": 8, "do_sample": False}, emit=partials.append)
    enc = chat.tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    tokens = result.trace.current.tokens
    assert [t.id for t in tokens] == bare_generate(chat, dict(enc), max_new_tokens=8)
    check_distribution(chat, enc["input_ids"][0].tolist(), tokens)
    assert [len(p.trace.current.tokens) for p in partials] == list(range(1, 9))
    assert partials[-1].messages[-1].content == result.messages[-1].content


@pytest.mark.parametrize("beams", [1, 2])
def test_seq2seq_streams_and_ends_as_model_generate(bart: Any, every_token: None, beams: int) -> None:
    """Two inputs at once: partial results for both as the decoder writes (greedy: each the start of its final
    output; beam search: each input's best candidate so far), and the final outputs are model.generate's."""
    import torch

    texts = ["The quick brown fox jumps over the lazy dog.", "A second, much shorter input."]
    partials: list[Any] = []
    result = run(bart, "summarization", texts, {"max_new_tokens": 10, "num_beams": beams}, emit=partials.append)
    enc = bart.tokenizer(texts, return_tensors="pt", padding=True, return_token_type_ids=False)
    with torch.inference_mode():
        out = bart.model.generate(**enc, max_new_tokens=10, num_beams=beams, do_sample=False)
    expected = bart.tokenizer.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert [i.output for i in result.items] == expected and all(expected)
    assert len(partials) >= 9
    assert all([i.input for i in p.items] == texts for p in partials)
    if beams == 1:
        for p in partials:
            assert all(final.startswith(part.output) for part, final in zip(p.items, expected))
    # no end token: at the last step each input's best candidate is its output
    assert [i.output for i in partials[-1].items] == expected


@pytest.mark.parametrize("task", ["text-generation", "conversational", "summarization"])
def test_cancel_at_the_first_partial_stops_the_model(
    gpt: Any, chat: Any, bart: Any, every_token: None, task: str
) -> None:
    """Against the 100 decoder steps the run asked for: a cancel at the first partial result ends it within two
    more forward passes, and the run says it was cancelled."""
    loaded = {"text-generation": gpt, "conversational": chat, "summarization": bart}[task]
    cancel = threading.Event()
    partials: list[Any] = []

    def emit(partial: Any) -> None:
        partials.append(partial)
        cancel.set()

    options = {"max_new_tokens": 100, "do_sample": False}
    threads, hook = forward_threads(loaded)
    try:
        with pytest.raises(Cancelled):
            run(loaded, task, [PROMPT], options, cancel=cancel, emit=emit)
        stopped = len(threads)
        run(loaded, task, [PROMPT], options)
    finally:
        hook.remove()
    assert len(partials) == 1
    assert stopped <= 3 and len(threads) - stopped >= 100


@pytest.mark.parametrize(
    "name, task, text",
    [("gpt", "text-generation", PROMPT), ("chat", "conversational", PROMPT), ("bart", "summarization", PROMPT)],
)
def test_every_generating_forward_runs_in_inference_mode(
    name: str, task: str, text: str, request: pytest.FixtureRequest
) -> None:
    """As bare `generate` is timed in bench/generation.py: the pipeline's own no_grad alone left autograd's
    per-tensor bookkeeping on every operation, 3-5 % of a small model's step (1.09-1.12x bare generate)."""
    import torch

    loaded = request.getfixturevalue(name)
    modes: list[bool] = []
    handle = loaded.model.register_forward_pre_hook(lambda *_: modes.append(torch.is_inference_mode_enabled()))
    try:
        run(loaded, task, [text], {"max_new_tokens": 4})
    finally:
        handle.remove()
    assert len(modes) >= 4 and all(modes), modes
