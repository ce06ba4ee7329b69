"""The command line: help, options and texts in any order, JSON results that match transformers, and one clear
line with the documented exit code for every way a command can fail."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui_hf import __version__
from tui_hf.cli import main
from tui_hf.core.errors import EXIT_LOAD, EXIT_RUN, EXIT_USAGE
from tui_hf.core.tasks.registry import TASKS, InputField, get_task


def test_version_and_help() -> None:
    out = subprocess.run([sys.executable, "-m", "tui_hf", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"tui-hf {__version__}"
    out = subprocess.run([sys.executable, "-m", "tui_hf", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for option in ("--task", "--model", "--device", "--offline", "Exit codes"):
        assert option in out.stdout


@pytest.mark.parametrize("task", sorted(TASKS))
def test_run_task_help_lists_the_tasks_settings(task: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", task, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: tui-hf run" in out
    for f in TASKS[task].fields:
        line = next((line for line in out.splitlines() if line.strip().startswith(f"{f.name}=")), None)
        assert line is not None, f"{f.name} is not listed"
        for choice in f.choices:
            assert choice in line


def test_setting_help_shows_type_default_and_the_models_own_value(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_hf.cli.inference import setting_help

    spec = dataclasses.replace(
        get_task("summarization"),
        fields=(
            InputField("num_beams", "Beams", "int", None, "Beams in the search"),
            InputField("length_penalty", "Length penalty", "float", 1.5, "Above 1 favours longer outputs"),
            InputField("strategy", "Strategy", "choice", "simple", "How to merge", choices=("simple", "first")),
        ),
    )
    lines = setting_help(spec).splitlines()
    assert re.match(r"\s+num_beams=INT\s+Beams in the search \(default: the model's own\)", lines[1])
    assert re.match(r"\s+length_penalty=NUMBER\s+Above 1 favours longer outputs \(default: 1.5\)", lines[2])
    assert re.match(r"\s+strategy=\{simple,first\}\s+How to merge \(default: 'simple'\)", lines[3])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 and out.out.strip() else out.out), out.err


def test_options_and_texts_in_any_order_match_the_transformers_pipeline(
    tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import pipeline

    texts = ["I love it", "I hate it", "It is fine"]
    code, payload, err = _run(
        capsys,
        "run",
        "sentiment-analysis",
        texts[0],
        "--model",
        str(tiny_bert_cls_dir),
        texts[1],
        "--explain",
        texts[2],
    )
    assert code == 0, err
    assert payload["task"] == "text-classification"
    truth = pipeline("text-classification", model=str(tiny_bert_cls_dir), top_k=None)(texts)
    got = [{s["label"]: s["score"] for s in item["labels"]} for item in payload["result"]["items"]]
    assert [item["text"] for item in payload["result"]["items"]] == texts
    for mine, theirs in zip(got, truth):
        assert mine == pytest.approx({r["label"]: r["score"] for r in theirs}, abs=1e-6)
    assert payload["explain"]["steps"], "--explain after a text was not read"


def test_model_options_before_the_command_are_kept() -> None:
    from tui_hf.cli import build_parser

    args = build_parser().parse_args(["--model", "./m", "--offline", "run", "ner", "a", "-s", "x=1", "b"])
    assert (args.model, args.offline, args.task, args.texts, args.set) == ("./m", True, "ner", ["a", "b"], ["x=1"])
    args = build_parser().parse_args(["--model", "./m", "run", "ner", "a", "--model", "./n"])
    assert args.model == "./n"  # the nearer one wins


def test_tui_hf_alone_opens_the_app_with_the_full_parsers_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no arguments the sub-commands' parsers are not built (they cost the first frame): the app gets
    the very settings the full parser would give it."""
    from tui_hf import cli

    got: dict[str, Any] = {}
    monkeypatch.setattr(cli, "launch_app", lambda args, task: got.update(args=vars(args), task=task) or 0)
    assert cli.main([]) == 0
    assert got == {"args": vars(cli.build_parser().parse_args([])), "task": "feature-extraction"}


def test_the_app_starts_with_the_cycle_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """~160 collections that find next to nothing delayed the first frame by ~30 ms: the app runs with the
    collector off, and turns it on once that frame is painted (test_app)."""
    import gc

    import tui_hf.ui.app
    from tui_hf import cli

    class App:
        return_code = 0

        def run(self) -> None:
            seen.append(gc.isenabled())

    seen: list[bool] = []
    monkeypatch.setattr(tui_hf.ui.app, "make_app", lambda settings: App())
    try:
        assert cli.main([]) == 0
    finally:
        gc.enable()
    assert seen == [False]


def test_run_passes_only_the_settings_the_user_gave(
    tiny_qa_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unset settings are left to the runner, which takes the model's own values (generation_config...)."""
    from tui_hf.core.tasks import qa

    seen: list[dict[str, Any]] = []
    real = qa.run.preprocess

    def spy(loaded: Any, texts: list[str], options: dict[str, Any]) -> Any:  # the task's first stage gets them
        seen.append(dict(options))
        return real(loaded, texts, options)

    monkeypatch.setattr(qa.run, "preprocess", spy)
    context = "The Eiffel Tower was finished in 1889 in Paris."
    code, payload, err = _run(
        capsys,
        "run",
        "question-answering",
        "--model",
        str(tiny_qa_dir),
        "When was it finished?",
        "-s",
        f"context={context}",
        "-s",
        "top_k=2",
    )
    assert code == 0, err
    assert seen == [{"context": context, "top_k": 2}]
    assert payload["result"]["question"] == "When was it finished?"
    assert len(payload["result"]["answers"]) == 2


def test_stdin_dash_reads_one_input_per_line(
    tiny_mlm_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("Paris is the [MASK] of France.\n\nBerlin is a [MASK].\n"))
    code, payload, err = _run(capsys, "run", "fill-mask", "--model", str(tiny_mlm_dir), "-", "-s", "top_k=2")
    assert code == 0, err
    items = payload["result"]["items"]
    assert [i["text"] for i in items] == ["Paris is the [MASK] of France.", "Berlin is a [MASK]."]
    assert all(len(i["masks"][0]) == 2 for i in items)


def test_greedy_generation_is_what_generate_gives(tiny_gpt2_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    code, payload, err = _run(
        capsys,
        "run",
        "text-generation",
        "--model",
        str(tiny_gpt2_dir),
        "The quick",
        "-s",
        "max_new_tokens=5",
        "-s",
        "do_sample=false",
    )
    assert code == 0, err
    tok = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    ids = tok("The quick", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    expected = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert payload["result"]["sequences"] == [expected]


# -- failures: one line, the documented exit code ----------------------------------------------------------


def _assert_one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("tui-hf: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def unloadable(tmp_path: Path, tiny_bert_cls_dir: Path, tiny_gpt2_dir: Path) -> dict[str, tuple[list[str], str]]:
    """Models that cannot be loaded, each with its argv and what the error line must say."""
    import shutil

    def model_dir(
        name: str,
        config: dict[str, Any] | None = None,
        weights: dict[str, bytes] | None = None,
        tokenizer_from: Path = tiny_bert_cls_dir,
    ) -> str:
        path = tmp_path / name
        path.mkdir()
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tokenizer_from / f, path / f)
        if config is not None:
            (path / "config.json").write_text(json.dumps(config))
        for file, data in (weights or {}).items():
            (path / file).write_bytes(data)
        return str(path)

    bert = json.loads((tiny_bert_cls_dir / "config.json").read_text())
    state = (tiny_bert_cls_dir / "model.safetensors").read_bytes()
    return {
        "missing directory": (["--model", str(tmp_path / "nowhere")], "no model directory"),
        "no config": (["--model", model_dir("no-config")], "no config.json"),
        "uncached hub id offline": (
            ["--model", "someone/not-cached"],
            "not in the local Hugging Face cache .* --model embedded",
        ),
        "pickle only": (
            ["--model", model_dir("weights", bert, {"pytorch_model.bin": b"\x80\x04N."})],
            "only pickle weights .*--allow-pickle",
        ),
        "remote code": (
            [
                "--model",
                model_dir(
                    "custom",
                    {
                        "model_type": "acme-custom",
                        "auto_map": {
                            "AutoConfig": "configuration_acme.AcmeConfig",
                            "AutoModel": "modeling_acme.AcmeModel",
                        },
                    },
                ),
            ],
            "needs its own Python code .*--trust-remote-code",
        ),
        "unknown architecture": (
            ["--model", model_dir("future", {"model_type": "from-the-future"})],
            "does not know the model type 'from-the-future'",
        ),
        "no weights": (["--model", model_dir("empty", bert)], "has no weights"),
        "corrupt weights": (
            ["--model", model_dir("corrupt", bert, {"model.safetensors": state[: len(state) // 2]})],
            "could not load .* \\(traceback in .*tui-hf.log\\)",
        ),
        "no head for the task": (["--model", str(tiny_gpt2_dir)], "cannot serve fill-mask.*AutoModelForMaskedLM"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing directory",
        "no config",
        "uncached hub id offline",
        "pickle only",
        "remote code",
        "unknown architecture",
        "no weights",
        "corrupt weights",
        "no head for the task",
    ],
)
def test_every_model_that_cannot_be_loaded_exits_3(
    case: str, unloadable: dict[str, tuple[list[str], str]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, says = unloadable[case]
    task = "fill-mask" if case == "no head for the task" else "feature-extraction"
    text = "Paris is the [MASK] of France." if task == "fill-mask" else "hello"
    code, _payload, err = _run(capsys, "run", task, text, *argv)
    line = _assert_one_line(err)
    assert code == EXIT_LOAD, err
    assert re.search(says, line), line


def test_the_app_refuses_a_missing_model_directory_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", "./no/such/dir"]) == EXIT_LOAD
    assert "no model directory" in _assert_one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--task", "telepathy"], "unknown task 'telepathy'"),
        (["run", "telepathy", "hi"], "unknown task 'telepathy'"),
        (["run", "feature-extraction", "hi", "-s", "pooling=median"], "-s pooling=median: .*one of mean, cls, max"),
        (["run", "feature-extraction", "hi", "-s", "colour=red"], "unknown setting 'colour'.*pooling, normalize"),
        (["run", "feature-extraction", "hi", "-s", "pooling"], "NAME=VALUE"),
        (["run", "question-answering", "Where?", "--model", "embedded"], "[Cc]ontext"),
        (["run", "feature-extraction", "hi", "--device", "cuda"], "not available"),
    ],
)
def test_bad_input_exits_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(argv)
    line = _assert_one_line(capsys.readouterr().err)
    assert code == EXIT_USAGE
    assert re.search(says, line), line


def test_no_input_at_all_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    assert main(["run", "feature-extraction"]) == EXIT_USAGE
    assert "no input" in _assert_one_line(capsys.readouterr().err)


@pytest.mark.parametrize("stdin", ["", "\n   \n"], ids=["empty", "blank-lines"])
def test_score_with_nothing_on_stdin_exits_2(
    stdin: str, tiny_gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tui-hf score --model M < empty.txt`: README's exit 2 for an empty text, not 0 with no results."""
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["score", "--model", str(tiny_gpt2_dir), "-"]) == EXIT_USAGE
    out = capsys.readouterr()
    assert out.out == "" and "no input" in _assert_one_line(out.err)


def test_a_run_that_fails_exits_4_with_its_traceback_in_the_log(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf.core.tasks import classification

    def broken(loaded: Any, prepared: Any, cancel: Any, emit: Any, keep: bool) -> None:  # the model's stage
        raise RuntimeError("the kernel ran out of luck")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(classification.run, "forward", broken)
    code = main(["run", "sentiment-analysis", "hi", "--model", str(tiny_bert_cls_dir)])
    line = _assert_one_line(capsys.readouterr().err)
    assert code == EXIT_RUN
    log = tmp_path / "state" / "tui-hf" / "tui-hf.log"
    assert f"traceback in {log}" in line and "RuntimeError: the kernel ran out of luck" in line
    logged = log.read_text()
    assert "Traceback (most recent call last)" in logged and "in broken" in logged


def test_an_unexpected_error_is_one_line_and_a_logged_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf.cli import training

    def broken(_args: Any) -> int:
        raise KeyError("lost")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setitem(training.TRAINING_COMMANDS, "runs", broken)
    code = main(["runs"])
    line = _assert_one_line(capsys.readouterr().err)
    assert code == EXIT_RUN and "unexpected KeyError" in line
    assert "in broken" in (tmp_path / "state" / "tui-hf" / "tui-hf.log").read_text()


def test_save_refuses_a_non_empty_directory_and_names_the_flag(
    tiny_bert_cls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    argv = ["save", str(tmp_path), "--model", str(tiny_bert_cls_dir), "--task", "sentiment-analysis"]
    assert main(argv) == EXIT_USAGE
    assert re.search(r"is not empty: .* \(pass --overwrite", _assert_one_line(capsys.readouterr().err))
    assert main([*argv, "--overwrite"]) == 0
    assert (tmp_path / "keep.txt").read_text() == "precious" and (tmp_path / "model.safetensors").is_file()


def test_a_reader_that_goes_away_is_not_a_failure() -> None:
    """`tui-hf ... | head`: output into a closed pipe ends quietly, as a process killed by SIGPIPE would."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_hf", "run", "text-generation", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes (it imports first): its first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "unexpected" not in err, err
