"""A foreground job killed outright (kill -9, the out-of-memory killer) cannot say so: the command does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_terminal_habits import make_run
from tui_hf.core.errors import EXIT_RUN
from tui_hf.core.training import job


@pytest.mark.parametrize("status, expected", [("running", EXIT_RUN), ("finished", 0)])
def test_a_job_killed_without_a_final_status_is_one_line_naming_resume(
    status: str, expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "runs" / "r1"
    make_run(run, status=status)
    # The job's process, killed by SIGKILL as kill -9 would (or exiting 0 after its final status).
    body = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)" if status == "running" else "pass"

    def spawn(*_: Any, **__: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", body])

    monkeypatch.setattr(job, "_spawn", spawn)
    assert job.run_foreground(run) == expected
    err = capsys.readouterr().err
    if expected:
        assert err.count("\n") == 1 and "killed by SIGKILL without a final status" in err and "tui-hf resume r1" in err
    else:
        assert err == ""
