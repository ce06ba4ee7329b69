"""Inputs a hostile probe found to get past the up-front checks: each is now one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_training_preflight import refused_by_cli
from tui_hf.cli import build_parser, main
from tui_hf.data import SENTIMENT_CSV


def test_a_spec_nested_too_deep_or_with_an_empty_model_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10000 + "]" * 10000)
    assert "nested too deep to be a spec" in refused_by_cli(tmp_path, str(deep))
    empty = tmp_path / "empty-model.json"
    empty.write_text(json.dumps({"data": {"train": str(SENTIMENT_CSV)}, "model": "", "max_steps": 2}))
    assert "model is empty" in refused_by_cli(tmp_path, str(empty))


@pytest.mark.parametrize("port", ["70000", "0", "-1", "http"])
def test_a_port_out_of_range_is_refused_by_the_parser(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--serve", "--port", port])
    assert info.value.code == 2 and "port" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setting, says",
    [
        ("max_new_tokens=-1", "Max new tokens must be a whole number, at least 1"),
        ("max_new_tokens=0", "Max new tokens must be a whole number, at least 1"),
        ("num_return_sequences=0", "Sequences must be a whole number, at least 1"),
        ("temperature=nan", "Temperature must be a finite number"),
        ("temperature=inf", "Temperature must be a finite number"),
        ("seed=-1", "Seed must be a whole number from 0"),
    ],
)
def test_generation_settings_no_run_can_use_are_one_line(
    setting: str, says: str, tiny_gpt2_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["run", "text-generation", "--model", str(tiny_gpt2_dir), "-s", "do_sample=true", "-s", setting, "hello"]
    )
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", [["score"], ["run", "text-generation"]])
def test_an_encoder_is_refused_where_a_causal_lm_generates_or_scores(
    command: list[str], tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """BERT loads as BertLMHeadModel but attends both ways: its perplexity and its text would mean nothing."""
    from tui_hf.core.errors import EXIT_LOAD

    code = main([*command, "--model", str(tiny_bert_cls_dir), "hello world"])
    err = capsys.readouterr().err
    assert code == EXIT_LOAD and "is an encoder" in err and "BertLMHeadModel" in err and err.count("\n") == 1, err
