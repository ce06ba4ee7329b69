"""The memory plan against the measured peak: `tui-hf train --dry-run`'s estimate vs the resident memory a
training step really adds on the CPU, for the embedded all-MiniLM-L6-v2 (22.7 M parameters).

Each row runs in a fresh process: imports first, then the resident set size (RSS) is read as the baseline,
then the model is built, and a sampler thread records the highest RSS every 2 ms while a few steps train
(forward, backward, AdamW step; under autocast for bf16). "measured" is that peak minus the baseline, so
the Python interpreter and the libraries (about 500 MiB here) are outside both numbers.
Usage: python bench/memory_plan.py [--batch 16] [--length 128] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, threading, time
    import psutil, torch, transformers
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.core.training.plan import memory_estimate
    from tui_hf.core.training.precision import autocast
    from tui_hf.data import SENTIMENT_CSV
    batch, length, steps, precision, ckpt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
    spec = TrainSpec(data=DataSpec(train=str(SENTIMENT_CSV), max_length=length), model="embedded", batch_size=batch,
                     precision=precision, grad_checkpointing=ckpt, device="cpu")
    estimate = memory_estimate(spec, ["negative", "positive"])
    from tui_hf.core.hub import parse_ref, resolve
    source = resolve(parse_ref("embedded")).source
    proc = psutil.Process()
    torch.manual_seed(0)
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)
    threading.Thread(target=sample, daemon=True).start()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(source, num_labels=2)
    if ckpt:
        model.activation_checkpointing_enable({"use_reentrant": False})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(1000, 20000, (batch, length))
    labels = torch.randint(0, 2, (batch,))
    for _ in range(steps):
        with autocast(precision, "cpu"):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    done.set()
    time.sleep(0.01)
    print(json.dumps({"estimate": estimate.total, "parts": estimate.parts, "measured": peak[0] - base}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"all-MiniLM-L6-v2, batch {args.batch} x {args.length} tokens, {args.steps} steps, CPU")
    print(f"{'precision':<22} {'estimate MiB':>13} {'measured MiB':>13} {'ratio':>7}   estimate parts (MiB)")
    for precision, ckpt in (("fp32", False), ("bf16", False), ("fp32", True)):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(args.batch),
                str(args.length),
                str(args.steps),
                precision,
                str(int(ckpt)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        name = precision + (" + checkpointing" if ckpt else "")
        parts = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in row["parts"].items())
        ratio = row["estimate"] / row["measured"] if row["measured"] else float("nan")
        print(
            f"{name:<22} {row['estimate'] / 2**20:>13.0f} {row['measured'] / 2**20:>13.0f} {ratio:>7.2f}   {parts}",
            flush=True,
        )


if __name__ == "__main__":
    main()
