"""The command line: version, help, scripted runs printing JSON, and clear errors with exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_hf import __version__
from tui_hf.cli import main
from tui_hf.core.errors import EXIT_LOAD, EXIT_USAGE


def test_version_and_help_are_fast_and_plain() -> None:
    out = subprocess.run([sys.executable, "-m", "tui_hf", "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == f"tui-hf {__version__}"
    out = subprocess.run([sys.executable, "-m", "tui_hf", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for option in ("--task", "--model", "--device", "--offline"):
        assert option in out.stdout


def test_unknown_task_and_missing_directory_exit_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--task", "telepathy"]) == EXIT_USAGE
    assert "unknown task 'telepathy'" in capsys.readouterr().err
    assert main(["--model", "./no/such/dir"]) == EXIT_USAGE
    assert "no model directory" in capsys.readouterr().err


def test_run_sentiment_prints_json(tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "sentiment-analysis", "I love it", "I hate it", "--model", str(tiny_bert_cls_dir),
                 "--explain"])
    out = capsys.readouterr()
    assert code == 0, out.err
    payload = json.loads(out.out)
    assert payload["task"] == "text-classification"
    items = payload["result"]["items"]
    assert [i["text"] for i in items] == ["I love it", "I hate it"]
    for item in items:
        assert {s["label"] for s in item["labels"]} == {"NEGATIVE", "POSITIVE"}
        assert sum(s["score"] for s in item["labels"]) == pytest.approx(1.0, abs=1e-4)
    assert payload["explain"]["steps"][1]["code"].startswith("logits")


def test_run_feature_extraction_on_embedded_model(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "feature-extraction", "A man is eating food.", "A man eats a meal.",
                 "The stock market fell.", "-s", "pooling=mean"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    sim = payload["result"]["similarity"]
    assert payload["result"]["items"][0]["hidden_size"] == 384
    assert sim[0][1] > sim[0][2]  # the pretrained MiniLM knows paraphrases from unrelated sentences


def test_run_offline_hub_id_exits_with_load_error(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["run", "sentiment-analysis", "hi", "--model", "someone/not-cached"]) == EXIT_LOAD
    err = capsys.readouterr().err
    assert "not in the local Hugging Face cache" in err and "Traceback" not in err


def test_run_rejects_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "feature-extraction", "hi", "-s", "pooling=median"]) == EXIT_USAGE
    assert "Pooling must be one of" in capsys.readouterr().err


def test_run_question_answering_from_the_command_line(tiny_qa_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    context = "The Eiffel Tower was finished in 1889 in Paris."
    code = main(["run", "question-answering", "When was it finished?", "--model", str(tiny_qa_dir),
                 "-s", f"context={context}", "-s", "top_k=2"])
    out = capsys.readouterr()
    assert code == 0, out.err
    answers = json.loads(out.out)["result"]["answers"]
    assert len(answers) == 2
    assert all(context[a["start"]:a["end"]] == a["text"] for a in answers)


def test_run_generation_from_the_command_line(tiny_gpt2_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "text-generation", "The quick", "--model", str(tiny_gpt2_dir), "-s", "max_new_tokens=5",
                 "-s", "do_sample=false"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)["result"]
    assert result["done"] is True and len(result["sequences"]) == 1
