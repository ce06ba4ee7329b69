"""A short real job per precision and method on a GPU: step time and peak memory against the memory plan.

Rows: fp32, bf16, fp16, LoRA (bf16) and QLoRA (4-bit base). Each row is `tui-hf train` (native engine, the
shipped sentiment data) in a fresh process; step time is the mean from the step-1 train event to the last
one (start-up and the first step are outside it); peak memory is the job's own `memory_mb` (on CUDA torch's peak allocation
since the start, on the CPU the resident set, which includes the interpreter and libraries: about 500 MiB);
the estimate is `tui-hf train --dry-run`'s total for the same spec.

Without CUDA it says so and runs the fp32 and bf16 rows on the CPU with small sizes. The LoRA rows need a
tui-hf with `--lora` (and `--qlora` for QLoRA); without them the row is skipped with a note.
Usage: python bench/gpu.py [--model embedded] [--batch 32] [--length 128] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def train_flags() -> str:
    return subprocess.run([sys.executable, "-m", "tui_hf", "train", "--help"], capture_output=True, text=True).stdout


def estimate_mib(args: argparse.Namespace, device: str, extra: list[str]) -> float | None:
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    if extra and extra[0] in ("--lora", "--qlora"):
        return None  # the plan of the LoRA branch, if it has one, is in its own dry run
    from tui_hf.core.training.plan import memory_estimate

    precision = extra[extra.index("--precision") + 1]
    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=args.length),
        model=args.model,
        batch_size=args.batch,
        precision=precision,
        device=device,
    )
    return memory_estimate(spec, ["negative", "positive"]).total / 2**20


def run_row(args: argparse.Namespace, device: str, extra: list[str], runs: Path) -> dict[str, float] | str:
    cmd = [
        sys.executable, "-m", "tui_hf", "train", "--data", "sentiment", "--model", args.model,
        "--engine", "native", "--device", device, "--batch-size", str(args.batch), "--max-length", str(args.length),
        "--max-steps", str(args.steps), "--runs-dir", str(runs), *extra,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    run_dir = max(runs.iterdir(), key=lambda p: p.stat().st_mtime)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    train = [e for e in events if e.get("event") == "train"]
    first, last = train[0], train[-1]  # step 1 (its time includes start-up: the window starts after it)
    steps = last["step"] - first["step"]
    peak = max((e.get("memory_mb") or 0.0) for e in train)
    return {"step_s": (last["time"] - first["time"]) / steps if steps else float("nan"), "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    flags = train_flags()
    rows: list[tuple[str, list[str], str | None]] = [
        ("fp32", ["--precision", "fp32"], None),
        ("bf16", ["--precision", "bf16"], None),
        ("fp16", ["--precision", "fp16"], None if cuda else "needs CUDA"),
        ("LoRA", ["--lora", "--precision", "bf16"], None if "--lora" in flags else "this tui-hf has no --lora"),
        (
            "QLoRA",
            ["--qlora", "--precision", "bf16"],
            None if ("--qlora" in flags and cuda) else "needs CUDA, bitsandbytes and --qlora",
        ),
    ]
    device = "cuda" if cuda else "cpu"
    if not cuda:
        print("bench/gpu.py needs CUDA for its figures: running the fp32 and bf16 rows on the CPU, small sizes")
        args.batch, args.length, args.steps = min(args.batch, 8), min(args.length, 64), min(args.steps, 6)
        rows = [r if r[0] in ("fp32", "bf16") else (r[0], r[1], r[2] or "needs CUDA") for r in rows]
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(f"{args.model} on {name}: batch {args.batch} x {args.length} tokens, {args.steps} steps, native engine")
    print(f"{'row':<7} {'step s':>8} {'peak MiB':>10} {'estimate MiB':>13} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra, skip in rows:
            if skip:
                print(f"{label:<7} skipped: {skip}", flush=True)
                continue
            got = run_row(args, device, extra, Path(tmp) / label)
            if isinstance(got, str):
                print(f"{label:<7} failed: {got}", flush=True)
                continue
            est = estimate_mib(args, device, extra)
            ratio = f"{est / got['peak_mib']:.2f}" if est and got["peak_mib"] else "-"
            shown = f"{est:.0f}" if est is not None else "-"
            print(f"{label:<7} {got['step_s']:>8.3f} {got['peak_mib']:>10.0f} {shown:>13} {ratio:>7}", flush=True)
    if not cuda:
        print("(CPU peak is the resident set, interpreter and libraries included: not comparable to the estimate)")


if __name__ == "__main__":
    main()
