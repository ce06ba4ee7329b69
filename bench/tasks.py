"""The app's run path vs the bare transformers call, per task family, same model and inputs.

Encoder families use the real all-MiniLM-L6-v2 weights (22.7M params) with a task head; seq2seq and
generation use random T5 / GPT-2 models of similar size built here (no network). Runs are interleaved
(app, bare, app, bare...) and the median is reported. Usage: python bench/tasks.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEXTS = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
    "My name is Sylvain and I work at Hugging Face in Brooklyn.",
    "The weather in Paris is lovely in May.",
] * 2
CONTEXT = (
    "Hugging Face was founded in 2016 in New York. It builds open-source libraries for machine learning, "
    "such as transformers, datasets and tokenizers. "
) * 12
QUESTION = "When was Hugging Face founded?"


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(name: str, app: Callable[[], Any], bare: Callable[[], Any], repeat: int) -> None:
    app(), bare()  # warm up both paths (pipelines built, kernels touched)
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(app))
        b.append(timed(bare))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"  {name:<22} {mb * 1e3:9.1f} {ma * 1e3:9.1f} {(ma / mb - 1) * 100:+8.1f}%")


def build_models(root: Path) -> dict[str, Path]:
    import torch
    from transformers import (
        AutoTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    from tui_hf.core.hub import embedded_model_dir

    minilm = embedded_model_dir()
    assert minilm is not None
    tok = AutoTokenizer.from_pretrained(str(minilm))
    torch.manual_seed(0)
    t5 = T5Config(
        vocab_size=len(tok),
        d_model=256,
        d_kv=32,
        d_ff=1024,
        num_layers=4,
        num_heads=8,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )
    T5ForConditionalGeneration(t5).save_pretrained(root / "t5")
    tok.save_pretrained(root / "t5")
    gpt = GPT2Config(
        vocab_size=len(tok),
        n_embd=256,
        n_layer=4,
        n_head=8,
        n_positions=512,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
    )
    GPT2LMHeadModel(gpt).save_pretrained(root / "gpt2")
    tok.save_pretrained(root / "gpt2")
    return {"minilm": minilm, "t5": root / "t5", "gpt2": root / "gpt2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    import torch
    from transformers import pipeline

    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.quiet import route_library_logs
    from tui_hf.core.tasks import get_task

    route_library_logs()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_models(Path(tmp))

        def loaded(task: str, path: Path) -> Any:
            return load(resolve(parse_ref(str(path))), get_task(task), "cpu")

        print(f"median of {args.repeat} interleaved runs, CPU, {torch.get_num_threads()} threads (ms)")
        print(f"  {'task family':<22} {'bare':>9} {'app':>9} {'overhead':>9}")

        lm = loaded("text-classification", paths["minilm"])
        runner = get_task("text-classification").load_runner()
        pipe = pipeline("text-classification", model=lm.model, tokenizer=lm.tokenizer)
        compare(
            "classification",
            lambda: runner(lm, TEXTS),
            lambda: pipe(TEXTS, top_k=None, truncation=True, batch_size=len(TEXTS)),
            args.repeat,
        )

        lm = loaded("token-classification", paths["minilm"])
        runner = get_task("token-classification").load_runner()
        pipe = pipeline("token-classification", model=lm.model, tokenizer=lm.tokenizer)
        compare(
            "token classification",
            lambda: runner(lm, TEXTS, {"aggregation_strategy": "simple"}),
            lambda: [pipe(t, aggregation_strategy="simple") for t in TEXTS],
            args.repeat,
        )

        lm = loaded("question-answering", paths["minilm"])
        runner = get_task("question-answering").load_runner()

        def bare_qa() -> Any:
            enc = lm.tokenizer(
                QUESTION,
                CONTEXT,
                truncation="only_second",
                max_length=384,
                stride=128,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding=True,
                return_tensors="pt",
            )
            inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode():
                out = lm.model(**inputs)
            return out.start_logits.argmax(-1), out.end_logits.argmax(-1)

        compare(
            "question answering", lambda: runner(lm, [QUESTION], {"context": CONTEXT, "top_k": 1}), bare_qa, args.repeat
        )

        lm = loaded("summarization", paths["t5"])
        runner = get_task("summarization").load_runner()
        settings = {"num_beams": 4, "max_new_tokens": 24, "min_new_tokens": 24}

        def bare_seq2seq() -> Any:
            enc = lm.tokenizer(
                TEXTS[:4], return_tensors="pt", padding=True, truncation=True, return_token_type_ids=False
            )
            with torch.inference_mode():
                out = lm.model.generate(**enc, **settings)
            return lm.tokenizer.batch_decode(out, skip_special_tokens=True)

        compare("seq2seq (beams 4)", lambda: runner(lm, TEXTS[:4], settings), bare_seq2seq, args.repeat)

        lm = loaded("text-generation", paths["gpt2"])
        lm.model.generation_config.eos_token_id = None  # always generate the full length, on both paths
        runner = get_task("text-generation").load_runner()
        prompt = TEXTS[0]

        def bare_generate() -> Any:
            enc = lm.tokenizer(prompt, return_tensors="pt", return_token_type_ids=False)
            with torch.inference_mode():
                out = lm.model.generate(**enc, max_new_tokens=48, do_sample=False, pad_token_id=0)
            return lm.tokenizer.decode(out[0], skip_special_tokens=True)

        compare(
            "generation (streamed)",
            lambda: runner(lm, [prompt], {"max_new_tokens": 48, "do_sample": False}, None, lambda _partial: None),
            bare_generate,
            args.repeat,
        )


if __name__ == "__main__":
    main()
