"""Generation you can see into, in the core: each token's probability and rank against the model's own logits
computed here, branches against a plain `generate` from the edited prefix, teacher-forced scores against a
manual forward pass, chat templates (warnings, assistant mask), and several tokenizers compared."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PROMPT_TURN, TURNS, llama_like_tokenizer
from tui_hf.core.errors import TaskInputError

PROMPT = "The quick brown"


def load(path: Path, task: str) -> Any:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load as load_model
    from tui_hf.core.tasks import get_task

    return load_model(resolve(parse_ref(str(path))), get_task(task), "cpu")


def run(loaded: Any, task: str, texts: list[str], options: dict[str, Any] | None = None, **kw: Any) -> Any:
    from tui_hf.core.tasks import get_task

    return get_task(task).load_runner()(loaded, texts, options, **kw)


@pytest.fixture(scope="module")
def gpt(tiny_gpt2_dir: Path) -> Any:
    loaded = load(tiny_gpt2_dir, "text-generation")
    loaded.model.generation_config.eos_token_id = None  # every run the full length: the random model may stop
    return loaded


def logits_of(loaded: Any, ids: list[int]) -> Any:
    """The model's next-token logits at every position, from one plain forward pass."""
    import torch

    with torch.inference_mode():
        return loaded.model(input_ids=torch.tensor([ids])).logits[0].float()


# -- each generated token, as the model weighed it -----------------------------------------------------


def test_greedy_steps_are_the_models_own_distribution(gpt: Any) -> None:
    result = run(gpt, "text-generation", [PROMPT], {"max_new_tokens": 10, "do_sample": False})
    trace = result.traces[0]
    tokens = trace.current.tokens
    prompt_ids = gpt.tokenizer(PROMPT)["input_ids"]
    assert trace.prompt_ids == prompt_ids and len(tokens) == 10 and trace.current.stop == "length"
    logits = logits_of(gpt, prompt_ids + [t.id for t in tokens])
    for k, t in enumerate(tokens):
        probs = logits[len(prompt_ids) - 1 + k].softmax(-1)
        assert t.probability == pytest.approx(float(probs[t.id]), abs=1e-5)
        assert t.rank == int((probs > probs[t.id]).sum()) + 1 == 1  # greedy: always the most probable
        assert [a.id for a in t.top] == probs.topk(10).indices.tolist()
        assert [a.probability for a in t.top] == pytest.approx(probs.topk(10).values.tolist(), abs=1e-5)
        assert sum(a.probability for a in t.top) <= 1 + 1e-6
    assert "".join(t.text for t in tokens) == result.sequences[0]  # the pieces are the text shown


def test_sampled_steps_are_the_distribution_drawn_from(gpt: Any) -> None:
    """Sampling: the probabilities are the model's own, before temperature reshapes them for drawing (generate
    runs custom processors before its sampling warpers), and the rank says where the drawn token stood."""
    options = {"max_new_tokens": 12, "do_sample": True, "temperature": 0.7, "seed": 5}
    result = run(gpt, "text-generation", [PROMPT], options)
    tokens = result.traces[0].current.tokens
    prompt_ids = gpt.tokenizer(PROMPT)["input_ids"]
    logits = logits_of(gpt, prompt_ids + [t.id for t in tokens])
    ranks = []
    for k, t in enumerate(tokens):
        probs = logits[len(prompt_ids) - 1 + k].softmax(-1)
        assert t.probability == pytest.approx(float(probs[t.id]), abs=1e-5)
        assert t.rank == int((probs > probs[t.id]).sum()) + 1
        assert sum(a.probability for a in t.top) <= 1 + 1e-6
        ranks.append(t.rank)
    assert max(ranks) > 1  # a random model at temperature 0.7 does not always draw its favourite


# -- branches -------------------------------------------------------------------------------------------


def test_a_branch_continues_as_generate_does_from_the_edited_prefix(gpt: Any) -> None:
    import torch

    from tui_hf.core.generation.branching import fork, grow

    result = run(gpt, "text-generation", [PROMPT], {"max_new_tokens": 10, "do_sample": False})
    trace = result.traces[0]
    original = trace.current.ids
    at = 3
    alternative = trace.current.tokens[at].top[1]  # the runner-up at the 4th token
    branch = fork(trace, trace.active, at, alternative.id)
    assert branch.ids == original[:at] + [alternative.id] and branch.tokens[-1].rank == 2
    grown = grow(trace, branch)
    # The independent truth: generate from the prompt and the edited prefix, greedy, for the same length.
    prefix = trace.prompt_ids + original[:at] + [alternative.id]
    with torch.inference_mode():
        out = gpt.model.generate(
            input_ids=torch.tensor([prefix]),
            attention_mask=torch.ones(1, len(prefix), dtype=torch.long),
            do_sample=False,
            max_new_tokens=10 - at - 1,
            eos_token_id=None,
            pad_token_id=1,
        )
    assert grown.ids == out[0].tolist()[len(trace.prompt_ids) :]  # prefix, alternative, continuation
    assert grown.ids != original and len(grown.ids) == 10 and grown.stop == "length"
    logits = logits_of(gpt, trace.prompt_ids + grown.ids)
    for k, t in enumerate(grown.tokens[at + 1 :], at + 1):  # the continuation is recorded like a run
        assert t.probability == pytest.approx(float(logits[len(trace.prompt_ids) - 1 + k].softmax(-1)[t.id]), abs=1e-5)
    trace.add(grown)
    assert trace.active == grown.id and trace.current.text == gpt.tokenizer.decode(grown.ids)
    assert trace.forks_at(0, at) == {alternative.id: grown.id}
    trace.switch(1)  # back to the first branch, then forward again
    assert trace.current.ids == original
    assert trace.switch(1).ids == grown.ids


def test_a_sampled_branch_samples_again_with_the_runs_seed(gpt: Any) -> None:
    from tui_hf.core.generation.branching import fork, grow

    result = run(gpt, "text-generation", [PROMPT], {"max_new_tokens": 8, "do_sample": True, "seed": 3})
    trace = result.traces[0]
    token = trace.current.tokens[2].top[3]
    first = grow(trace, fork(trace, 0, 2, token.id))
    again = grow(trace, fork(trace, 0, 2, token.id))
    assert first.ids == again.ids and first.ids[2] == token.id and len(first.ids) == 8


def test_a_branch_needs_the_model_that_wrote_it(gpt: Any) -> None:
    from tui_hf.core.errors import RunStateError
    from tui_hf.core.generation.branching import fork

    result = run(gpt, "text-generation", [PROMPT], {"max_new_tokens": 4, "do_sample": False})
    trace = result.traces[0]
    trace.model_key = "gone"
    with pytest.raises(RunStateError, match="no longer loaded"):
        fork(trace, 0, 1, trace.current.tokens[1].top[1].id)


# -- teacher-forced scores ------------------------------------------------------------------------------


def test_a_run_cut_to_the_models_positions_ends_by_length(gpt: Any) -> None:
    """A prompt 6 positions short of the model's 1024: 50 new tokens asked, 6 written, and the trace says it
    stopped at its length (not that something else stopped it)."""
    prompt_ids = gpt.tokenizer("fox " * 2000)["input_ids"][:1018]
    prompt = gpt.tokenizer.decode(prompt_ids)
    assert len(gpt.tokenizer(prompt)["input_ids"]) == 1018
    result = run(gpt, "text-generation", [prompt], {"max_new_tokens": 50, "do_sample": False})
    assert any("cut from 50 to 6" in w for w in result.warnings)
    assert len(result.traces[0].current.tokens) == 6 and result.traces[0].current.stop == "length"


def test_scores_are_the_log_softmax_at_each_target(gpt: Any) -> None:
    import torch

    text = "The quick brown fox jumps over the lazy dog."
    result = run(gpt, "text-generation", [text], {"score": True})
    ids = gpt.tokenizer(text)["input_ids"]
    logits = logits_of(gpt, ids)
    manual = logits[:-1].log_softmax(-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    tokens = result.trace.current.tokens
    assert [t.id for t in tokens] == ids and tokens[0].probability is None  # nothing predicts the first
    assert [t.logprob for t in tokens[1:]] == pytest.approx(manual.tolist(), abs=1e-4)
    nll = -float(manual.mean())
    assert result.tokens == len(ids) - 1
    assert result.nll == pytest.approx(nll, abs=1e-4) and result.perplexity == pytest.approx(math.exp(nll), rel=1e-4)
    ranks = (logits[:-1].log_softmax(-1) > manual[:, None]).sum(-1) + 1
    assert [t.rank for t in tokens[1:]] == ranks.tolist()
    assert "".join(t.text for t in tokens) == text


def test_score_from_the_command_line(tiny_gpt2_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui_hf.cli import main

    code = main(["run", "text-generation", "--model", str(tiny_gpt2_dir), "-s", "score=true", "The quick brown fox"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    result = payload["result"]
    ids = load(tiny_gpt2_dir, "text-generation").tokenizer("The quick brown fox")["input_ids"]
    assert [t["id"] for t in result["trace"]["branches"][0]["tokens"]] == ids
    assert result["tokens"] == len(ids) - 1 and result["perplexity"] == pytest.approx(math.exp(result["nll"]), rel=1e-4)


def test_tui_hf_score_prints_each_tokens_logprob_and_the_perplexity(
    tiny_gpt2_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from tui_hf.cli import main

    texts = ["The quick brown fox", "jumps over the lazy dog"]
    code = main(["score", "--model", str(tiny_gpt2_dir), *texts, "--top", "3"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["text"] for r in payload["results"]] == texts
    loaded = load(tiny_gpt2_dir, "text-generation")
    for text, result in zip(texts, payload["results"]):
        ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.inference_mode():  # the independent truth: the model's own loss with the ids as labels
            out = loaded.model(input_ids=ids, labels=ids)
        loss = float(out.loss)
        assert result["mean_nll"] == pytest.approx(loss, abs=1e-4)
        assert result["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)
        assert [t["id"] for t in result["tokens"]] == ids[0].tolist() and result["tokens"][0]["logprob"] is None
        manual = out.logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
        assert [t["logprob"] for t in result["tokens"][1:]] == pytest.approx(manual.tolist(), abs=1e-4)
        assert all(len(t["top"]) == 3 for t in result["tokens"][1:])


def test_tui_hf_score_fails_in_one_line_with_the_error_types_code(
    tiny_gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf.cli import main
    from tui_hf.core.errors import EXIT_LOAD, EXIT_USAGE

    assert main(["score", "--model", str(tiny_gpt2_dir), "   "]) == EXIT_USAGE
    assert capsys.readouterr().err == "tui-hf: error: type the text to score\n"
    assert main(["score", "--model", str(tmp_path / "missing"), "text"]) == EXIT_LOAD
    err = capsys.readouterr().err
    assert err.startswith("tui-hf: error: ") and err.count("\n") == 1 and "missing" in err
    assert main(["score", "--model", str(tiny_gpt2_dir), "--top", "-1", "text"]) == EXIT_USAGE


def test_a_chat_reply_is_scored_on_its_own_tokens(tiny_chat_dir: Path) -> None:
    import torch

    chat = load(tiny_chat_dir, "conversational")
    result = run(chat, "conversational", ["hello there", "the quick fox"], {"score": True})
    text = "<|user|>hello there\n<|assistant|>the quick fox\n"
    assert result.text == text
    enc = chat.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    reply = (text.index("the quick"), len(text))  # the reply and its end-of-turn newline
    logits = logits_of(chat, enc["input_ids"])
    logp = logits[:-1].log_softmax(-1).gather(-1, torch.tensor(enc["input_ids"][1:])[:, None])[:, 0].tolist()
    expected = {k: logp[k - 1] for k, (s, e) in enumerate(enc["offset_mapping"]) if s < reply[1] and reply[0] < e}
    got = {k: t.logprob for k, t in enumerate(result.trace.current.tokens) if t.logprob is not None}
    assert got.keys() == expected.keys() and list(got.values()) == pytest.approx(list(expected.values()), abs=1e-4)
    assert len(result.turns) == 1 and result.turns[0].tokens == len(expected)
    assert result.history == []  # scoring adds nothing to the conversation


def test_a_reply_the_template_hides_is_not_scored_as_another(tiny_chat_dir: Path) -> None:
    """Templates that drop old replies' text (as some do with reasoning) leave that reply unfound: each turn
    score must still belong to the reply it names."""
    chat = load(tiny_chat_dir, "conversational")
    chat.tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{% if m['role'] == 'assistant' and not loop.last %}..."
        "{% else %}{{ m['content'] }}{% endif %}\n{% endfor %}"
    )
    result = run(chat, "conversational", ["hello", "the quick fox", "and then", "hello there"], {"score": True})
    assert "the quick fox" not in result.text  # the first reply is hidden: only the last can be found
    assert [(t.message, t.content) for t in result.turns] == [(3, "hello there")]


def test_chat_turns_alternate_from_the_history() -> None:
    from tui_hf.core.tasks.chat import conversation

    history = [{"role": "user", "content": "hi"}]
    assert conversation(history, "", ["hello", "bye"], score=True) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    assert conversation([], "be brief", ["a", "b"], score=False) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a\nb"},
    ]


# -- two models on the same prompt ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_gpt_dir(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2_dir: Path) -> Path:
    """The tiny GPT-2's tokenizer with other random weights: a 'finetuned' model that answers differently."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("other-gpt2")
    GPT2LMHeadModel(GPT2Config.from_pretrained(tiny_gpt2_dir)).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_gpt2_dir).save_pretrained(path)
    return path


def test_a_second_model_runs_the_same_prompt_and_settings(gpt: Any, other_gpt_dir: Path) -> None:
    options = {"max_new_tokens": 6, "do_sample": False}
    result = run(gpt, "text-generation", [PROMPT], {**options, "second_model": str(other_gpt_dir)})
    other = load(other_gpt_dir, "text-generation")
    other.model.generation_config.eos_token_id = None
    alone = run(other, "text-generation", [PROMPT], options)
    assert result.beside is not None and result.beside.traces[0].current.ids == alone.traces[0].current.ids
    assert result.beside.settings["max_new_tokens"] == 6 and result.beside.settings["do_sample"] is False
    assert result.traces[0].current.ids != result.beside.traces[0].current.ids  # two different models


# -- chat templates ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_like() -> Any:
    return llama_like_tokenizer()


GENERATION_TURNS = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>{% generation %}"
    "{{ m['content'] }}\n{% endgeneration %}{% else %}<|{{ m['role'] }}|>{{ m['content'] }}\n"
    "{% endif %}{% endfor %}"
)
ASK = [{"role": "user", "content": "hello there"}]
ANSWERED = ASK + [{"role": "assistant", "content": "the quick fox"}]


def with_template(tok: Any, template: str | None) -> Any:
    import copy

    out = copy.deepcopy(tok)
    out.chat_template = template
    return out


def test_a_template_that_writes_bos_warns_of_a_doubled_bos(llama_like: Any) -> None:
    from tui_hf.core.chat_template import render

    view = render(with_template(llama_like, "{{ bos_token }}" + TURNS + PROMPT_TURN), ASK)
    assert view.available and view.text == "<s><|user|>hello there\n<|assistant|>"
    ids = view.breakdown.sequences[0].ids
    assert ids[0] == 1 and ids[1] != 1  # one <s>, as apply_chat_template(tokenize=True) gives the model
    assert llama_like(view.text)["input_ids"][:2] == [1, 1]  # tokenizer(text) makes two
    assert len(view.warnings) == 1 and view.warnings[0].startswith("doubled BOS")
    plain = render(with_template(llama_like, TURNS + PROMPT_TURN), ASK)
    assert plain.available and plain.warnings == []  # the tokenizer's own <s> is the only one


def test_a_template_without_generation_prompt_says_so(llama_like: Any) -> None:
    from tui_hf.core.chat_template import render

    view = render(with_template(llama_like, TURNS), ASK)
    assert view.add_generation_prompt and view.generation_prompt == ""
    assert any(w.startswith("no generation prompt") for w in view.warnings)
    answered = render(with_template(llama_like, TURNS), ANSWERED)  # ends with a reply: nothing is asked
    assert not answered.add_generation_prompt and answered.warnings == []
    asked = render(with_template(llama_like, TURNS + PROMPT_TURN), ASK)
    assert asked.generation_prompt == "<|assistant|>" and asked.warnings == []


def test_no_template_is_said_plainly(llama_like: Any) -> None:
    from tui_hf.core.chat_template import render

    view = render(with_template(llama_like, None), ASK)
    assert not view.available and "no chat template" in view.reason


def test_the_assistant_mask_covers_the_generation_blocks(llama_like: Any) -> None:
    from tui_hf.core.chat_template import render

    view = render(with_template(llama_like, GENERATION_TURNS + PROMPT_TURN), ANSWERED)
    assert view.marks_generation and view.assistant_mask is not None
    seq = view.breakdown.sequences[0]
    start = view.text.index("the quick fox")
    reply = (start, start + len("the quick fox\n"))  # the {% generation %} block: content and newline
    expected = [int(s < reply[1] and reply[0] < e) for s, e in seq.offsets]
    assert view.assistant_mask == expected and 0 < view.supervised < len(expected)
    unmarked = render(with_template(llama_like, TURNS + PROMPT_TURN), ANSWERED)
    assert unmarked.assistant_mask is None and any("generation" in n for n in unmarked.notes)


# -- several tokenizers on the same text ------------------------------------------------------------------


def test_three_tokenizers_side_by_side(bert_tokenizer: Any, bpe_tokenizer: Any, llama_like: Any) -> None:
    from tui_hf.core.token_compare import compare_tokenizers

    texts = ["The quick brown fox", "emoji 🤗 here"]
    stats = compare_tokenizers([bert_tokenizer, bpe_tokenizer, llama_like], texts)
    for tok, s in zip([bert_tokenizer, bpe_tokenizer, llama_like], stats):
        assert s.per_input == [len(tok(t)["input_ids"]) for t in texts]  # each tokenizer's own count
        assert s.chars_per_token == pytest.approx(sum(map(len, texts)) / s.tokens)
        assert s.vocab_size == len(tok)
    bert, bpe, llama = stats
    assert bert.unknown == 1 and not bert.exact  # 🤗 is [UNK] in MiniLM's vocabulary
    assert bpe.unknown == 0 and bpe.exact  # byte-level: every byte has a piece
    assert llama.unknown == 0 and llama.exact  # byte fallback spells 🤗 as its four UTF-8 bytes
    assert len({s.tokens for s in stats}) == 3


def test_scoring_one_token_is_refused(gpt: Any) -> None:
    with pytest.raises(TaskInputError, match="single token"):
        run(gpt, "text-generation", ["T"], {"score": True})
