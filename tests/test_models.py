"""Model references, offline detection, load errors and device choice."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core import hub as models
from tui_hf.core.device import pick_device
from tui_hf.core.errors import DeviceError, ModelLoadError, OfflineError
from tui_hf.core.hub import parse_ref, resolve
from tui_hf.core.models import load
from tui_hf.core.tasks import get_task


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_probe_result", None)


def test_parse_ref_kinds(tmp_path: Path) -> None:
    assert parse_ref(None).kind == "embedded"
    assert parse_ref("embedded").kind == "embedded"
    assert parse_ref(str(tmp_path)).kind == "local"
    ref = parse_ref("distilbert/distilbert-base-uncased")
    assert ref.kind == "hub" and ref.location == "distilbert/distilbert-base-uncased"
    with pytest.raises(ModelLoadError, match="no model directory"):
        parse_ref("./does/not/exist")


def test_directory_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve(parse_ref(str(tmp_path)))


def test_uncached_hub_id_fails_fast_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(OfflineError, match="not in the local Hugging Face cache") as info:
        resolve(parse_ref("someone/uncached-model"))
    assert time.monotonic() - started < 2.0
    assert "--model" in str(info.value)  # it says what to do


def test_hub_probe_gives_up_within_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that hangs (no answer, no refusal) must not hang model loading."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def hang(*_args: Any, **_kwargs: Any) -> None:
        time.sleep(5)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.monotonic()
    assert models.hub_reachable(timeout=0.5) is False
    assert time.monotonic() - started < 1.5
    with pytest.raises(OfflineError, match="cannot be reached"):
        resolve(parse_ref("someone/uncached-model"))


def test_missing_head_is_reported(minilm_dir: Path) -> None:
    loaded = load(resolve(parse_ref("embedded")), get_task("sentiment-analysis"), "cpu")
    assert loaded.info.newly_initialized == ["classifier.bias", "classifier.weight"]
    assert "randomly" in loaded.info.warnings[0]
    assert loaded.info.architecture == "BertForSequenceClassification"


def test_wrong_task_for_model_says_so(tiny_gpt2_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot serve fill-mask"):
        load(resolve(parse_ref(str(tiny_gpt2_dir))), get_task("fill-mask"), "cpu")


def test_pickle_only_checkpoint_is_refused_by_default(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        load(resolve(parse_ref(str(tmp_path))), get_task("text-classification"), "cpu")


def test_device_auto_is_cpu_here_and_missing_cuda_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    plan = pick_device("auto")
    assert plan.device == "cpu" and plan.dtype == "float32"
    with pytest.raises(DeviceError, match="not available"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    plan = pick_device("auto")
    assert plan.device == "cuda:0" and plan.dtype == "bfloat16"
