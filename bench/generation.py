"""The app's generation vs plain `model.generate`, on the same model with the same settings, measured in one run:
what a user waits for beyond the model itself.

Three tasks, greedy, the same input and length (the model's end token ignored so every run is full length):
  text-generation   bare model.generate  vs  the app's runner: pipeline, streamed, each token's probability,
                    rank and top 10 recorded, the token trace built, "under the hood" (the app always asks for it)
  conversational    bare model.generate on the chat template's ids  vs  the app's chat runner, likewise
  summarization     bare model.generate on the encoder's input  vs  the app's seq2seq runner, streamed, with its
                    decoder steps recorded for "under the hood"
Two more text-generation paths show where time goes: `recorded` (model.generate + the app's StepRecorder, no
streaming) and `reader thread` (generate in a thread, a TextIteratorStreamer read by the caller: streaming as
the transformers docs show it, and as the app did before; nothing recorded).
Every app path is handed an `emit` that receives its partial results, as the app's worker does.

Each run goes in a fresh thread, as the app runs a task in a new worker thread: on a busy 2-core machine, torch
at 2 threads once ran generate 10x slower in the main thread than in a fresh one, so all paths run alike.
Runs are interleaved (bare, app, ..., bare, app, ...). Reported: the median time, ms per token, and the median of
each round's ratio to that round's bare run with its range over the rounds (the 2 cores may be shared: a paired
ratio is steadier than a ratio of medians). The goal: every app path at most 1.10x bare generate.
The models are random, built here (no network): a GPT-2 of 22M parameters and a BART of 19M, both with a real
30,522-entry vocabulary (the per-step softmax and top-k scale with the vocabulary).
Usage: python bench/generation.py [--repeat N] [--new-tokens N] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "I've been waiting for a HuggingFace course my whole life."
ARTICLE = (
    "The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure "
    "in Paris. Its base is square, measuring 125 metres on each side."
)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Seconds `fn` takes in a fresh thread: wall clock, and CPU time of the whole process (every thread)."""
    spent: list[tuple[float, float]] = []

    def run() -> None:
        t, c = time.perf_counter(), time.process_time()
        fn()
        spent.append((time.perf_counter() - t, time.process_time() - c))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert spent, "the run failed"
    return spent[0]


def build(root: Path) -> tuple[Path, Path]:
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

    from tui_hf.core.hub import embedded_model_dir

    minilm = embedded_model_dir()
    assert minilm is not None
    tok = AutoTokenizer.from_pretrained(str(minilm))
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=256,
        n_layer=4,
        n_head=8,
        n_positions=512,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(root / "gpt2")
    tok.save_pretrained(root / "gpt2")
    bart = BartConfig(
        vocab_size=len(tok),
        d_model=256,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=1024,
        decoder_ffn_dim=1024,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id,
        forced_eos_token_id=None,
    )
    BartForConditionalGeneration(bart).save_pretrained(root / "bart")
    tok.save_pretrained(root / "bart")
    return root / "gpt2", root / "bart"


def loaded_model(path: Path, task: str) -> Any:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks import get_task

    lm = load(resolve(parse_ref(str(path))), get_task(task), "cpu")
    lm.model.generation_config.eos_token_id = None  # every path writes the full length
    return lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    from transformers import LogitsProcessorList, TextIteratorStreamer

    from tui_hf.core.quiet import route_library_logs
    from tui_hf.core.tasks import get_task
    from tui_hf.core.tasks.common import StepRecorder, cancel_criteria, pipeline_for

    route_library_logs()
    torch.set_num_threads(args.threads)
    n = args.new_tokens
    partials: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        gpt2_dir, bart_dir = build(Path(tmp))
        lm, chat_lm, s2s = (
            loaded_model(gpt2_dir, "text-generation"),
            loaded_model(gpt2_dir, "conversational"),
            loaded_model(bart_dir, "summarization"),
        )
        tok = lm.tokenizer
        greedy = {"max_new_tokens": n, "do_sample": False}
        settings = {**greedy, "pad_token_id": tok.pad_token_id}
        enc = tok(PROMPT, return_tensors="pt", return_token_type_ids=False)  # as the pipeline tokenizes
        messages = [{"role": "user", "content": PROMPT}]
        chat_enc = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )  # as the chat runner passes them
        s2s_enc = tok([ARTICLE], return_tensors="pt", return_token_type_ids=False, truncation=True, max_length=512)
        runners = {
            task: get_task(task).load_runner() for task in ("text-generation", "conversational", "summarization")
        }

        def generate(model: Any, inputs: Any, **extra: Any) -> Any:
            with torch.inference_mode():
                return model.generate(**inputs, **settings, **extra)

        def recorded() -> Any:
            recorder = StepRecorder()
            out = generate(
                lm.model,
                enc,
                logits_processor=LogitsProcessorList([recorder.processor]),
                stopping_criteria=cancel_criteria(None, recorder.criteria),
            )
            assert len(recorder.decoded()) == n
            return out

        pipe = pipeline_for(lm, "text-generation")

        def reader_thread() -> Any:
            streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=10)
            worker = threading.Thread(
                target=pipe, args=(PROMPT,), kwargs={"return_full_text": False, "streamer": streamer, **greedy}
            )
            worker.start()
            text = ""
            for piece in streamer:
                text += piece
            worker.join()
            return text

        def app(task: str, model: Any, text: str, options: dict[str, Any]) -> Callable[[], Any]:
            return lambda: runners[task](model, [text], dict(options), None, partials.append, explain=True)

        groups: dict[str, dict[str, Callable[[], Any]]] = {
            "text-generation": {
                "bare": lambda: generate(lm.model, enc),
                "recorded": recorded,
                "reader thread": reader_thread,
                "app": app("text-generation", lm, PROMPT, greedy),
            },
            "conversational": {
                "bare": lambda: generate(chat_lm.model, chat_enc),
                "app": app("conversational", chat_lm, PROMPT, greedy),
            },
            "summarization": {
                "bare": lambda: generate(s2s.model, s2s_enc, num_beams=1),
                "app": app("summarization", s2s, ARTICLE, {"max_new_tokens": n, "num_beams": 1}),
            },
        }

        # The same tokens on every path: streaming and recording change nothing that is generated.
        start = enc["input_ids"].shape[1]
        bare_ids = groups["text-generation"]["bare"]()[0, start:].tolist()
        app_result = groups["text-generation"]["app"]()
        assert recorded()[0, start:].tolist() == bare_ids == app_result.traces[0].current.ids
        chat_start = chat_enc["input_ids"].shape[1]
        chat_ids = groups["conversational"]["bare"]()[0, chat_start:].tolist()
        assert groups["conversational"]["app"]().trace.current.ids == chat_ids
        summary = groups["summarization"]["bare"]()[0]
        assert groups["summarization"]["app"]().items[0].output == tok.decode(
            summary, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        reader_thread()
        streamed = len(partials)
        assert streamed > 0, "the app paths streamed nothing"

        times: dict[tuple[str, str], list[tuple[float, float]]] = {
            (g, p): [] for g, paths in groups.items() for p in paths
        }
        for _ in range(args.repeat):
            for group, paths in groups.items():
                for name, fn in paths.items():
                    times[group, name].append(timed(fn))
                    partials.clear()

        print(
            f"greedy generation of {n} tokens, random GPT-2 (22M params) and BART (19M), vocab {len(tok):,}, CPU, "
            f"{torch.get_num_threads()} threads: {args.repeat} interleaved rounds"
        )
        print(
            f"  {'task / path':<32} {'median ms':>9} {'ms/token':>8}   {'vs bare, wall (range)':<23} "
            f"{'vs bare, CPU time (range)'}"
        )
        worst = 0.0
        for group, paths in groups.items():
            bare = times[group, "bare"]
            for name in paths:
                ts = times[group, name]
                m = statistics.median(t for t, _c in ts)
                line = f"  {group + ' / ' + name:<32} {m * 1e3:9.1f} {m * 1e3 / n:8.2f}"
                if name != "bare":
                    ratios = []
                    for k in (0, 1):  # wall, CPU
                        each = [t[k] / b[k] for t, b in zip(ts, bare)]
                        ratios.append(statistics.median(each))
                        line += f"   {ratios[-1]:5.2f}x ({min(each):.2f}-{max(each):.2f})     "
                    if name == "app":
                        worst = max(worst, ratios[0])
                print(line.rstrip())
        print(f"  the app's slowest path: {worst:.2f}x bare model.generate, wall clock (goal: at most 1.10x)")


if __name__ == "__main__":
    main()
