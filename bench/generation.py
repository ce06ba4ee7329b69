"""Generation you can see into vs plain generation: the cost of recording each token's probability, rank and
top alternatives, on the same model with the same settings, measured in one run.

Four paths, greedy, the same prompt and length (the model's end token ignored so every run is full length):
  bare       model.generate(...), nothing recorded
  recorded   model.generate(...) with the app's StepRecorder (softmax, top-k and rank per step)
  streamed   the pipeline streamed through TextIteratorStreamer, nothing recorded (the app's path before traces)
  app        the app's text-generation runner: pipeline, streaming, recorder and the per-token trace
Runs are interleaved (bare, recorded, streamed, app, bare...) and the median is reported. The goal: recording
costs at most 10 % (recorded vs bare, app vs streamed). The model is a random GPT-2 of 22M parameters with a real 30,522-entry vocabulary (the per-step
softmax and top-k scale with the vocabulary), built here (no network).
Usage: python bench/generation.py [--repeat N] [--new-tokens N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "I've been waiting for a HuggingFace course my whole life."


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def build(root: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from tui_hf.core.hub import embedded_model_dir

    minilm = embedded_model_dir()
    assert minilm is not None
    tok = AutoTokenizer.from_pretrained(str(minilm))
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
    return root / "gpt2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    import torch
    from transformers import LogitsProcessorList

    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.quiet import route_library_logs
    from tui_hf.core.tasks import get_task
    from tui_hf.core.tasks.common import StepRecorder, cancel_criteria, pipeline_for, stream_text

    route_library_logs()
    torch.set_num_threads(2)
    n = args.new_tokens
    with tempfile.TemporaryDirectory() as tmp:
        lm = load(resolve(parse_ref(str(build(Path(tmp))))), get_task("text-generation"), "cpu")
        lm.model.generation_config.eos_token_id = None  # every path writes the full length
        enc = lm.tokenizer(PROMPT, return_tensors="pt", return_token_type_ids=False)
        settings = {"max_new_tokens": n, "do_sample": False, "pad_token_id": 0}
        runner = get_task("text-generation").load_runner()

        def bare() -> Any:
            with torch.inference_mode():
                return lm.model.generate(**enc, **settings)

        def recorded() -> Any:
            recorder = StepRecorder()
            with torch.inference_mode():
                out = lm.model.generate(
                    **enc,
                    **settings,
                    logits_processor=LogitsProcessorList([recorder.processor]),
                    stopping_criteria=cancel_criteria(None, recorder.criteria),
                )
            assert len(recorder.decoded()) == n
            return out

        pipe = pipeline_for(lm, "text-generation")

        def streamed() -> Any:
            return stream_text(
                lm.tokenizer,
                lambda streamer: pipe(
                    PROMPT, return_full_text=False, streamer=streamer, max_new_tokens=n, do_sample=False
                ),
                None,
                lambda _text: None,
            )

        def app() -> Any:
            result = runner(lm, [PROMPT], {"max_new_tokens": n, "do_sample": False}, None, lambda _partial: None)
            assert len(result.traces[0].current.tokens) == n
            return result

        # The same tokens on every path: the recording changes nothing that is generated.
        same = bare()[0, enc["input_ids"].shape[1] :].tolist()
        assert recorded()[0, enc["input_ids"].shape[1] :].tolist() == same == app().traces[0].current.ids
        streamed()
        paths = {"bare": bare, "recorded": recorded, "streamed": streamed, "app": app}
        times: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(args.repeat):
            for name, fn in paths.items():
                times[name].append(timed(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"greedy generation of {n} tokens, random GPT-2 (22M params, vocab {len(lm.tokenizer):,}), CPU, "
            f"{torch.get_num_threads()} threads: median of {args.repeat} interleaved runs"
        )
        print(f"  {'path':<46} {'ms':>8} {'ms/token':>9} {'vs bare':>8}")
        labels = {
            "bare": "model.generate, nothing recorded",
            "recorded": "model.generate + probabilities, rank, top-10",
            "streamed": "pipeline streamed, nothing recorded",
            "app": "app runner: streamed, recorded, traced",
        }
        for name in paths:
            m = med[name]
            print(f"  {labels[name]:<46} {m * 1e3:8.1f} {m * 1e3 / n:9.2f} {(m / med['bare'] - 1) * 100:+7.1f}%")
        print(
            f"  recording costs: {(med['recorded'] / med['bare'] - 1) * 100:+.1f}% on model.generate, "
            f"{(med['app'] / med['streamed'] - 1) * 100:+.1f}% on the streamed path (goal: at most +10%)"
        )


if __name__ == "__main__":
    main()
