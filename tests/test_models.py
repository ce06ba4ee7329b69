"""Model references, offline detection, load errors and device choice."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core import hub as models
from tui_hf.core.card import model_card
from tui_hf.core.device import pick_device
from tui_hf.core.errors import DeviceError, ModelLoadError, OfflineError, PickleOnlyError, RemoteCodeError
from tui_hf.core.hub import parse_ref, resolve
from tui_hf.core.models import load, load_tokenizer
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
    assert "local model directory" in str(info.value)  # it says what to do
    assert_neutral(str(info.value))


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


def assert_neutral(message: str) -> None:
    """Core messages name no command-line flag and no UI key: the CLI and the UI add their own hints."""
    assert not re.search(r"(^|[\s(])--?[a-z]", message), message
    assert not re.search(r"\b(F\d+|ctrl\+\w|tick)\b", message), message


@pytest.fixture
def no_weights_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any from_pretrained of a model fails the test: the refusal must come from the files, before loading."""
    import transformers

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("from_pretrained was called")

    for name in ("AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


def _copy_model(src: Path, dst: Path, weights: str | None = "model.safetensors") -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and (f.suffix != ".safetensors" or f.name == weights):
            shutil.copy(f, dst / f.name)
    return dst


def _pickle_only(src: Path, dst: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    _copy_model(src, dst, weights=None)
    torch.save(load_file(src / "model.safetensors"), dst / "pytorch_model.bin")
    return dst


def test_wrong_task_for_model_is_decided_from_its_config(tiny_gpt2_dir: Path, no_weights_read: None) -> None:
    with pytest.raises(
        ModelLoadError, match="cannot serve fill-mask: a gpt2 model has no AutoModelForMaskedLM"
    ) as info:
        load(resolve(parse_ref(str(tiny_gpt2_dir))), get_task("fill-mask"), "cpu")
    assert type(info.value) is ModelLoadError
    assert_neutral(str(info.value))


def test_a_model_at_a_path_naming_pickle_is_not_called_pickle_only(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    model = _copy_model(tiny_gpt2_dir, tmp_path / "pickle-free-model")
    with pytest.raises(ModelLoadError) as info:
        load(resolve(parse_ref(str(model))), get_task("fill-mask"), "cpu")
    assert not isinstance(info.value, PickleOnlyError)


def test_pickle_only_checkpoint_is_refused_from_its_files(
    tmp_path: Path, tiny_bert_cls_dir: Path, no_weights_read: None
) -> None:
    model = _pickle_only(tiny_bert_cls_dir, tmp_path / "weights")
    with pytest.raises(PickleOnlyError, match="only pickle weights \\(pytorch_model.bin\\)") as info:
        load(resolve(parse_ref(str(model))), get_task("text-classification"), "cpu")
    assert_neutral(str(info.value))
    assert model_card(resolve(parse_ref(str(model)))).pickle_only  # the picker's card says the same


def test_pickle_only_checkpoint_loads_when_allowed(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    import torch

    model = _pickle_only(tiny_bert_cls_dir, tmp_path / "weights")
    task = get_task("text-classification")
    allowed = load(resolve(parse_ref(str(model))), task, "cpu", allow_pickle=True)
    original = load(resolve(parse_ref(str(tiny_bert_cls_dir))), task, "cpu")
    for (name, a), (_, b) in zip(allowed.model.state_dict().items(), original.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_pickle_only_in_the_hub_cache_is_refused_from_the_snapshot(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch, no_weights_read: None
) -> None:
    import huggingface_hub.constants as constants

    snapshot = tmp_path / "hub" / "models--acme--pickled" / "snapshots" / "0123"
    _pickle_only(tiny_bert_cls_dir, snapshot)
    (tmp_path / "hub" / "models--acme--pickled" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--pickled" / "refs" / "main").write_text("0123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PickleOnlyError):
        load(resolve(parse_ref("acme/pickled")), get_task("text-classification"), "cpu")


def test_training_state_beside_safetensors_is_not_a_pickle_checkpoint(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    model = _copy_model(tiny_bert_cls_dir, tmp_path / "checkpoint-8")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        (model / name).write_bytes(b"\x80\x04N.")
    loaded = load(resolve(parse_ref(str(model))), get_task("text-classification"), "cpu")
    assert loaded.info.labels == {0: "NEGATIVE", 1: "POSITIVE"}
    (model / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="has no weights") as info:
        load(resolve(parse_ref(str(model))), get_task("text-classification"), "cpu")
    assert not isinstance(info.value, PickleOnlyError)


@pytest.mark.parametrize(
    "config, task",
    [
        (
            {
                "model_type": "acme-custom",
                "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig", "AutoModel": "modeling_acme.AcmeModel"},
            },
            "feature-extraction",
        ),
        ({"model_type": "gpt2", "auto_map": {"AutoModelForMaskedLM": "modeling_acme.Gpt2ForMaskedLM"}}, "fill-mask"),
    ],
)
def test_remote_code_is_decided_from_the_config(
    config: dict[str, Any], task: str, tmp_path: Path, tiny_bert_cls_dir: Path, no_weights_read: None
) -> None:
    model = _copy_model(tiny_bert_cls_dir, tmp_path / "custom")
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeError, match="its own Python code") as info:
        load(resolve(parse_ref(str(model))), get_task(task), "cpu")
    assert_neutral(str(info.value))
    if config["model_type"] == "acme-custom":  # the tokenizer needs the model's code just as much
        with pytest.raises(RemoteCodeError):
            load_tokenizer(resolve(parse_ref(str(model))))


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


def test_loading_reads_the_model_files_once(tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve, read the facts, check, load: each step hands its result on (the tokenizer's checks reuse the
    facts the model's checks read)."""
    from tui_hf.core import card
    from tui_hf.core import models as loading

    reads: list[str] = []
    real = card.model_facts

    def counted(resolved: Any) -> Any:
        reads.append(resolved.ref.name)
        return real(resolved)

    monkeypatch.setattr(loading, "model_facts", counted)
    resolved = resolve(parse_ref(str(tiny_bert_cls_dir)))
    assert resolved.root is not None and resolved.root.samefile(tiny_bert_cls_dir)
    load(resolved, get_task("text-classification"), "cpu")
    assert reads == [str(tiny_bert_cls_dir)]
