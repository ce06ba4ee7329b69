"""What `tui-hf attach` sends over SSH while a run trains: bytes and writes per second, beside W&B LEET.

Default: a run that logs like a job at a fixed rate (8 train steps/s, an evaluation every 100 steps, through
tui-hf's own EventWriter) and `tui-hf attach RUN` in a 120x40 pseudo-terminal: bytes and writes after a
5 s warm-up. With `--leet BIN` (a venv's bin directory with wandb 0.31: `python -m venv /tmp/leet &&
/tmp/leet/bin/pip install wandb==0.31.0`) the same metrics go into an offline W&B run and `wandb beta leet`
is measured the same way, one after the other in the same run of this script.
`--job`: instead, a tiny random BERT trains on the shipped data with a train event every step, as fast as
this machine runs it (frames per second against the job's own event rate).

The view reads events once a second, redraws its chart every two, and sends only the cells that changed
(tui_hf/ui/changes_only.py). Measured on the 2-core machine: ~0.9-1.0 KiB/s in ~1.5 writes/s; LEET 0.9 KiB/s
in ~14 writes/s; before the change 57 KiB/s in 21 writes/s.
Usage: python bench/attach_rate.py [--seconds N] [--rate R] [--leet BIN] [--job]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tiny_model(root: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tui_hf.core.hub import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    path = root / "tiny"
    BertForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def pty_rate(argv: list[str], seconds: float, warmup: float = 5.0) -> tuple[float, float, float]:
    """(KiB/s, reads/s, frames/s) a program sends to a 120x40 terminal, after `warmup` seconds. A pty hands
    over at most ~4 KiB per read, so one large frame arrives as several reads: reads less than 20 ms apart
    count as one frame."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start, marks = time.monotonic(), []
    while time.monotonic() - start < warmup + seconds:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            marks.append((time.monotonic() - start, len(data)))
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    late = [m for m in marks if m[0] > warmup]
    frames = sum(1 for i, (t, _) in enumerate(late) if i == 0 or t - late[i - 1][0] > 0.02)
    return sum(b for _, b in late) / seconds / 1024, len(late) / seconds, frames / seconds


def log_like_a_job(run: Path, seconds: float, rate: float) -> None:
    """The fixed-rate run: `rate` train steps/s and an evaluation every 100 steps, as a job writes them."""
    import math
    import threading

    from tui_hf.core.training.events import EventWriter
    from tui_hf.core.training.runlock import RunLock

    run.mkdir(parents=True, exist_ok=True)
    (run / "spec.json").write_text('{"model": "embedded", "task": "text-classification", "data": "x.csv"}')
    lock = RunLock.acquire(run)
    lock.record(os.getpid())
    w = EventWriter(run)
    total = int(seconds * rate) + 10
    w.start(engine="native", model="embedded", total_steps=total, epochs=1, labels=["neg", "pos"], batch_size=8)
    w.status("running", step=0, total_steps=total)

    def body() -> None:
        t0, step = time.time(), 0
        while time.time() - t0 < seconds:
            step += 1
            loss = 0.7 * math.exp(-step / 200) + 0.05 * math.sin(step)
            w.train(step=step, epoch=step / total, loss=loss, learning_rate=5e-5 * (1 - step / total),
                    grad_norm=1.0 + 0.1 * math.cos(step), samples_per_second=64.0, tokens_per_second=2048.0,
                    memory_mb=512.0)  # fmt: skip
            if step % 100 == 0:
                w.eval(step=step, epoch=step / total, metrics={"loss": loss * 1.1, "accuracy": 0.6})
            time.sleep(max(0.0, t0 + step / rate - time.time()))
        w.status("finished", step=step, total_steps=total)
        lock.release()

    threading.Thread(target=body, daemon=True).start()


WANDB_LOGGER = """
import math, sys, time, wandb
d, secs, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = wandb.init(mode="offline", dir=d, project="p", settings=wandb.Settings(quiet=True))
t0 = time.time(); step = 0
while time.time() - t0 < secs:
    step += 1
    loss = 0.7 * math.exp(-step / 200) + 0.05 * math.sin(step)
    m = {"train/loss": loss, "train/learning_rate": 5e-5, "train/grad_norm": 1.0 + 0.1 * math.cos(step),
         "train/samples_per_second": 64.0}
    if step % 100 == 0:
        m.update({"eval/loss": loss * 1.1, "eval/accuracy": 0.7})
    run.log(m, step=step)
    time.sleep(max(0, t0 + step / rate - time.time()))
run.finish()
"""


def side_by_side(seconds: float, rate: float, leet: str | None) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as work:
        root = Path(work)
        log_like_a_job(root / "runs" / "fake", seconds + 15, rate)
        time.sleep(5)
        kib, writes, _ = pty_rate([sys.executable, "-m", "tui_hf", "attach", str(root / "runs" / "fake")], seconds)
        rows.append(("tui-hf attach", kib, writes))
        if leet:
            logger = subprocess.Popen([f"{leet}/python", "-c", WANDB_LOGGER, str(root), str(seconds + 15), str(rate)])
            try:
                deadline = time.monotonic() + 60
                while not list((root / "wandb").glob("offline-run-*")) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(5)
                run = next((root / "wandb").glob("offline-run-*"))
                kib, writes, _ = pty_rate([f"{leet}/wandb", "beta", "leet", str(run)], seconds)
                rows.append(("W&B LEET", kib, writes))
            finally:
                logger.kill()
                logger.wait()
    print(f"{rate:g} train steps/s, an evaluation every 100 steps; 120x40 pty, {seconds:.0f} s after a 5 s warm-up")
    for name, kib, writes in rows:
        print(f"  {name:<16} {kib:6.2f} KiB/s   {writes:5.1f} writes/s")


def train_events(run_dir: Path) -> list[float]:
    import json

    out: list[float] = []
    path = run_dir / "events.jsonl"
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "train":
            out.append(float(e["time"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=8.0, help="train steps per second of the fixed-rate run")
    parser.add_argument("--leet", help="a bin directory with wandb 0.31 (python and wandb): measure LEET too")
    parser.add_argument("--job", action="store_true", help="a real tiny job as fast as it trains instead")
    args = parser.parse_args()
    if not args.job:
        side_by_side(args.seconds, args.rate, args.leet)
        return

    from tui_hf.core.training.job import create_run, job_pid, launch, request_stop
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as work:
        root = Path(work)
        spec = TrainSpec(
            data=DataSpec(train=str(SENTIMENT_CSV), max_length=32),
            model=str(tiny_model(root)),
            engine="native",
            epochs=1000,
            batch_size=8,
            logging_steps=1,
            device="cpu",
            max_steps=100000,
        )
        run_dir = create_run(spec, root / "runs", name="fast")
        launch(run_dir)
        try:
            deadline = time.monotonic() + 120
            while len(train_events(run_dir)) < 5:
                if time.monotonic() > deadline:
                    raise SystemExit("the job did not start training within 120 s")
                time.sleep(0.2)
            t0 = time.time()
            kib, reads, frames = pty_rate([sys.executable, "-m", "tui_hf", "attach", str(run_dir)], args.seconds)
            t1 = time.time()
            steps = [t for t in train_events(run_dir) if t0 + 5 <= t <= t1]
        finally:
            pid = job_pid(run_dir)
            request_stop(run_dir) if pid else None
            deadline = time.monotonic() + 60
            while job_pid(run_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            if job_pid(run_dir):
                os.killpg(job_pid(run_dir), signal.SIGKILL)  # type: ignore[arg-type]
            subprocess.run(["sync"], check=False)
    span = max(t1 - t0 - 5, 1e-9)
    print(f"tui-hf attach on a job logging every step, {args.seconds:.0f} s after a 5 s warm-up, 120x40 pty")
    print(f"  job: train events per second          {len(steps) / span:8.1f}")
    print(f"  attach: frames per second             {frames:8.1f}   (reads {reads:.1f}/s: a pty reads <= 4 KiB)")
    print(f"  attach: KiB per second                {kib:8.1f}   ({kib / max(frames, 1e-9):.1f} KiB per frame)")
    print("  (text once a second, the chart every two; only the cells that changed are sent)")


if __name__ == "__main__":
    main()
