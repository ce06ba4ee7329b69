"""What the live view costs over SSH: the bytes `tui-hf attach` sends while a run logs 8 steps a second.

Measured as an SSH link carries them: the app runs in a 120x40 pseudo-terminal and every byte it writes is
counted. W&B LEET sends 0.8-1.4 KiB/s on the same run shape (../shared/tools); before the view sent only
the cells that changed it sent ~57 KiB/s.
"""

from __future__ import annotations

import fcntl
import math
import os
import pty
import select
import signal
import struct
import sys
import termios
import threading
import time
from pathlib import Path

from rich.segment import Segment
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from tui_hf.core.training.chart import kept_limits, steady_limits
from tui_hf.ui.changes_only import ScreenCells

BUDGET_KIB_S = 2.0  # measured 0.9-1.0 KiB/s here (bench/attach_rate.py); 57 before, 4 with every cell resent


def _log_like_a_job(run: Path, stop: threading.Event, rate: float = 8.0) -> None:
    """A run that logs as ../shared/tools/fake_run_tuihf.py does: `rate` train steps/s, an eval every 100."""
    from tui_hf.core.training.events import EventWriter
    from tui_hf.core.training.runlock import RunLock

    lock = RunLock.acquire(run)
    lock.record(os.getpid())
    w = EventWriter(run)
    total = 400
    w.start(engine="native", model="embedded", total_steps=total, epochs=1, labels=["neg", "pos"], batch_size=8)
    w.status("running", step=0, total_steps=total)
    t0, step = time.time(), 0
    while not stop.is_set() and step < total:
        step += 1
        loss = 0.7 * math.exp(-step / 200) + 0.05 * math.sin(step)
        w.train(step=step, epoch=step / total, loss=loss, learning_rate=5e-5, grad_norm=1.0, samples_per_second=64.0)
        if step % 100 == 0:
            w.eval(step=step, epoch=step / total, metrics={"loss": loss * 1.1, "accuracy": 0.6})
        time.sleep(max(0.0, t0 + step / rate - time.time()))


def _bytes_per_second(argv: list[str], seconds: float, warmup: float) -> float:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ["TERM"] = "xterm-256color"
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started, first, counted = time.monotonic(), None, None
    total = 0
    try:
        while True:
            now = time.monotonic()
            if counted is not None and now - counted >= seconds:
                break
            if first is None and now > started + 120:
                raise AssertionError("the view drew nothing")
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    raise AssertionError("the view exited before the measurement ended") from None
                if first is None:
                    first = time.monotonic()
                if counted is not None:
                    total += len(data)
            if first is not None and counted is None and time.monotonic() - first >= warmup:
                counted = time.monotonic()
    finally:
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return total / seconds / 1024


def test_attach_sends_about_a_kib_a_second_while_a_run_logs_8_steps_a_second(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "fast"
    run.mkdir(parents=True)
    (run / "spec.json").write_text('{"model": "embedded", "task": "text-classification", "data": "x.csv"}')
    stop = threading.Event()
    job = threading.Thread(target=_log_like_a_job, args=(run, stop), daemon=True)
    job.start()
    try:
        rate = _bytes_per_second([sys.executable, "-m", "tui_hf", "attach", str(run)], seconds=10, warmup=4)
    finally:
        stop.set()
        job.join(10)
    assert rate <= BUDGET_KIB_S, f"the live view sent {rate:.1f} KiB/s (budget {BUDGET_KIB_S})"


def test_a_changed_character_goes_out_alone() -> None:
    from rich.console import Console

    cells = ScreenCells()
    cells.apply_layout(LayoutUpdate([[Strip([Segment("loss 0.4321 · step 10")])]], Region(0, 0, 30, 1)), (30, 1))
    update = ChopsUpdate([{0: Strip([Segment("loss 0.4329 · step 10")])}], [(0, 0, 30)], [[21]])
    sent = cells.diff_chops(update, Console(force_terminal=True, color_system="256"))
    assert sent == "\x1b[1;11H9"  # row 1, column 11 (1-based): the one digit that changed
    again = cells.diff_chops(update, Console(force_terminal=True, color_system="256"))
    assert again == ""  # the same frame twice: nothing to send


def test_a_falling_loss_rescales_the_chart_rarely() -> None:
    shown, changes = None, 0
    for step in range(40, 400):
        losses = [0.7 * math.exp(-s / 200) for s in range(1, step + 1)]
        low, high = min(losses), max(losses)
        limits = kept_limits(shown, steady_limits(low - 0.02, high + 0.02))
        assert limits[0] <= low and high <= limits[1]  # every point stays on the chart
        changes += limits != shown
        shown = limits
    assert changes <= 4  # 360 redraws, each with a new low: a handful of rescales
