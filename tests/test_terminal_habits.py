"""Terminal habits and small terminals (issue 18, items 3-5): the first key lands on the content; q, Esc, ?, j/k
and / do what they do in lazygit, k9s and htop; every action is in the palette; 80x24 shows text whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_hf.cli import main


def make_run(path: Path, status: str = "finished", steps: int = 4) -> None:
    from tui_hf.core.training.events import EventWriter

    path.mkdir(parents=True)
    (path / "spec.json").write_text("{}")
    writer = EventWriter(path)
    writer.start(engine="native", model="tiny", total_steps=steps, epochs=1, labels=["neg", "pos"], batch_size=8)
    for step in range(1, steps + 1):
        writer.train(step=step, epoch=step / steps, loss=1.0 / step, learning_rate=1e-3)
    writer.status(status, message="")


def test_runs_lists_the_newest_first_as_the_app_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    made = ["20251201-000000-a", "20260101-000000-b", "20260102-000000-c"]
    for k, name in enumerate(made):
        make_run(runs / name)
        os.utime(runs / name / "spec.json", (1e9 + k, 1e9 + k))  # made in this order
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    lines = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == list(reversed(made))
