"""Record what the transformers 4.57 seq2seq pipelines answered, for tests/test_seq2seq_reference.py.

transformers 5 removed the summarization, translation and text2text-generation pipelines; tui-hf keeps their
behaviour. This script builds two tiny seeded models (a T5-style one with task prefixes and settings in its
config's task_specific_params, like google-t5/t5-base; a BART-style summariser with its settings in its
generation_config and task_specific_params, like sshleifer/distilbart-cnn-12-6), saves them under
tests/reference/seq2seq/, and records the v4 pipelines' outputs, greedy and with each model's own defaults,
in tests/reference/v4_seq2seq.json.

Run it in a throwaway venv with transformers 4.57 (see README, "Checking the tasks against transformers 4"):
    python -m venv /tmp/v4venv-s2s
    /tmp/v4venv-s2s/bin/pip install transformers==4.57.6 torch==2.13.0 tokenizers sentencepiece
    /tmp/v4venv-s2s/bin/python scripts/v4_reference_seq2seq.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "reference"
MODELS = OUT / "seq2seq"

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hugging Face transformers make natural language processing easy.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "Tokenizers split text into tokens, and models turn tokens into vectors.",
    "A summary keeps what matters and leaves out the rest.",
    "Translate the sentence into another language, word by word if needed.",
] * 4
INPUTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Tokenizers split text into tokens.",
    "Paris is the capital of France and Berlin is the capital of Germany; both are large cities.",
]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0, 1, 2, 3


def tokenizer(bos: bool) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    single = "<s> $A </s>" if bos else "$A </s>"
    tok.post_processor = processors.TemplateProcessing(
        single=single, pair=single + " $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_t5(path: Path) -> None:
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    tok = tokenizer(bos=False)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tok),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_heads=2,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        tie_word_embeddings=False,
        task_specific_params={
            "summarization": {
                "prefix": "summarize: ",
                "num_beams": 2,
                "min_length": 5,
                "max_length": 20,
                "length_penalty": 2.0,
                "no_repeat_ngram_size": 3,
                "early_stopping": True,
            },
            "translation_en_to_de": {
                "prefix": "translate English to German: ",
                "num_beams": 3,
                "max_length": 30,
                "early_stopping": True,
            },
            "translation_en_to_fr": {"prefix": "translate English to French: ", "num_beams": 2},
        },
    )
    T5ForConditionalGeneration(config).save_pretrained(path)
    GenerationConfig(pad_token_id=1, eos_token_id=2, decoder_start_token_id=1).save_pretrained(path)
    tok.save_pretrained(path)


def build_bart(path: Path) -> None:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    tok = tokenizer(bos=True)
    summarization = {
        "num_beams": 3,
        "min_length": 8,
        "max_length": 24,
        "length_penalty": 2.0,
        "no_repeat_ngram_size": 3,
        "early_stopping": True,
    }
    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(tok),
        d_model=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        task_specific_params={"summarization": summarization},
    )
    BartForConditionalGeneration(config).save_pretrained(path)
    GenerationConfig(
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        **summarization,
    ).save_pretrained(path)
    tok.save_pretrained(path)


# (model, v4 pipeline task, tui-hf task, tui-hf options, v4 call kwargs)
GREEDY = {"num_beams": 1, "max_new_tokens": 12}
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    ("t5", "summarization", "summarization", {}, {}),
    ("t5", "summarization", "summarization", GREEDY, GREEDY),
    ("t5", "translation_en_to_de", "translation", {"src_lang": "en", "tgt_lang": "de"}, {}),
    ("t5", "translation_en_to_de", "translation", {"src_lang": "en", "tgt_lang": "de", **GREEDY}, GREEDY),
    ("t5", "translation_en_to_fr", "translation", {"src_lang": "English", "tgt_lang": "French"}, {}),
    ("t5", "translation", "translation", {}, {}),  # no pair given: the config's first one
    ("t5", "text2text-generation", "text2text-generation", {}, {}),
    ("t5", "text2text-generation", "text2text-generation", GREEDY, GREEDY),
    ("bart", "summarization", "summarization", {}, {}),
    ("bart", "summarization", "summarization", GREEDY, GREEDY),
    (
        "bart",
        "summarization",
        "summarization",
        {"max_new_tokens": 16, "min_new_tokens": 2, "num_beams": 2},
        {"max_new_tokens": 16, "min_new_tokens": 2, "num_beams": 2},
    ),
    ("bart", "text2text-generation", "text2text-generation", {}, {}),
]


def main() -> None:
    import tokenizers
    import torch
    import transformers
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline

    if not transformers.__version__.startswith("4.57"):
        sys.exit(f"run this with transformers 4.57 (found {transformers.__version__}); see the docstring")
    torch.set_num_threads(1)
    shutil.rmtree(MODELS, ignore_errors=True)
    MODELS.mkdir(parents=True)
    build_t5(MODELS / "t5")
    build_bart(MODELS / "bart")
    cases = []
    for model_name, v4_task, task, options, kwargs in CASES:
        path = MODELS / model_name
        # a fresh pipeline per case: 4.57 pipelines write task_specific_params into their generation config
        pipe = pipeline(
            v4_task, model=AutoModelForSeq2SeqLM.from_pretrained(path), tokenizer=AutoTokenizer.from_pretrained(path)
        )
        key = {"summarization": "summary_text", "text2text-generation": "generated_text"}.get(task, "translation_text")
        for text in INPUTS:
            output = pipe(text, **kwargs)[0][key]
            cases.append(
                {
                    "model": model_name,
                    "task": task,
                    "v4_task": v4_task,
                    "options": options,
                    "input": text,
                    "output": output,
                }
            )
    record = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "models": "tests/reference/seq2seq",
        "cases": cases,
    }
    (OUT / "v4_seq2seq.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases -> {OUT / 'v4_seq2seq.json'}")


if __name__ == "__main__":
    main()
