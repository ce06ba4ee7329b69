"""LoRA vs full finetuning of the same model: trainable parameters, step time, peak memory.

Each side is a tui-hf job of its own (a fresh process, so the peak memory is that side's): the same model,
data (the shipped sentiment.csv), batch size, max length, seed and engine. Trainable and total parameters
come from the job's start event; the step time is the mean over the train events after the first step (the
first pays for warm-up); the peak memory is the largest memory_mb a train event reported (the process's
resident memory on a CPU, torch's peak allocation on a GPU).
Usage: python bench/lora.py [--model DIR|embedded] [--engine native|trainer] [--steps N] [--batch N]
       [--max-length N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tui_hf.core.training.job import create_run
from tui_hf.core.training.spec import DataSpec, LoraSpec, TrainSpec
from tui_hf.data import SENTIMENT_CSV


def measure(args: argparse.Namespace, lora: bool, root: Path) -> dict[str, float]:
    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=args.max_length),
        model=args.model,
        engine=args.engine,
        max_steps=args.steps,
        batch_size=args.batch,
        learning_rate=1e-3 if lora else 5e-5,
        logging_steps=1,
        device=args.device,
        seed=42,
        predictions=0,
        lora=LoraSpec() if lora else None,
    )
    run_dir = create_run(spec, root, name="lora" if lora else "full")
    proc = subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{run_dir.name} failed: {proc.stderr[-2000:]}")
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    steps = [e for e in events if e["event"] == "train" and not e.get("replay")]
    timed = [e["time"] for e in steps if e["step"] >= 1]
    step_s = (timed[-1] - timed[0]) / max(len(timed) - 1, 1)
    peak = max((e.get("memory_mb") or 0.0) for e in steps)
    return {
        "trainable": start["trainable_parameters"],
        "total": start["total_parameters"],
        "step_s": step_s,
        "peak_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--engine", default="native", choices=("native", "trainer"))
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = measure(args, False, Path(tmp))
        lora = measure(args, True, Path(tmp))
    print(
        f"{args.model}, {args.engine} engine, {args.steps} steps of {args.batch} x {args.max_length} on {args.device}"
    )
    print(f"{'':<6} {'trainable':>12} {'of total':>12} {'share':>7} {'step s':>8} {'peak MiB':>9}")
    for name, r in (("full", full), ("lora", lora)):
        share = 100 * r["trainable"] / r["total"]
        print(
            f"{name:<6} {r['trainable']:>12,} {r['total']:>12,} {share:>6.2f}% {r['step_s']:>8.3f} {r['peak_mb']:>9.0f}"
        )
    print(
        f"lora / full: step time {lora['step_s'] / full['step_s']:.2f}x, "
        f"peak memory {lora['peak_mb'] / full['peak_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
