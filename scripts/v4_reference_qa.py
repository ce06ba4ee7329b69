"""Records what transformers 4.57's question-answering pipeline answers, for tests/test_qa_reference.py.

transformers 5 removed that pipeline; tui-hf reimplements its semantics (tui_hf/core/tasks/qa.py), and the
tests compare tui-hf's answers, spans and scores with the ones recorded here from the real thing.

The script builds two tiny seeded extractive-QA models and commits them under tests/reference/models/:
  qa-bert-wordpiece  BERT (hidden 32, 2 layers, 512 positions) with a WordPiece vocabulary of at most 400 tokens
  qa-roberta-bpe     RoBERTa with a byte-level BPE vocabulary (offsets trimmed of their leading space)
then runs the v4 pipeline on each case of record_all() and writes tests/reference/v4_qa.json. Building
happens in the v4 environment too (transformers 5 must read what v4 saved, as it does for every model on the
Hub); with the same torch the models and the JSON come out byte for byte the same.

Regenerate (one throwaway venv, then one command from the repository root):
    python -m venv /tmp/v4venv
    /tmp/v4venv/bin/pip install transformers==4.57.6 torch==2.13.0 tokenizers
    /tmp/v4venv/bin/python scripts/v4_reference_qa.py
Add --record-only to keep the committed models and only re-record the JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "reference"
MODELS = REFERENCE / "models"
BERT, ROBERTA = "qa-bert-wordpiece", "qa-roberta-bpe"

# The tokenizers are trained on these sentences, and the contexts are made of them.
CORPUS = [
    "Tokenizers split text into tokens. Each token has an id in the vocabulary.",
    "A model turns the ids into vectors and the vectors into predictions.",
    "Question answering models read a question and a context, then point at the answer span.",
    "The start logits and the end logits score every token of the context.",
    "Long contexts are cut into overlapping windows with a stride between them.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "The Eiffel Tower was finished in 1889 for the World's Fair.",
    "Hugging Face was founded in 2016 in New York.",
    "WordPiece marks the pieces inside a word with two hashes.",
    "Byte-level BPE keeps the space in front of a word as part of its first token.",
    "Softmax turns logits into probabilities that sum to one.",
    "The pipeline ranks candidate spans from every window together.",
    "Unanswerable questions point at the classification token instead of the context.",
    "Fine-tuning on SQuAD teaches a small head to find where answers start and end.",
]
SHORT = " ".join(CORPUS[:2])
MEDIUM = " ".join(CORPUS[4:8])
# Rotations of the corpus, about 230 WordPiece tokens each: many windows of 64 with a stride of 16.
LONGS = [" ".join(CORPUS[k:] + CORPUS[:k]) for k in range(len(CORPUS))]
# Words the tokenizers never saw whole: they fall apart into pieces, so spans can start inside a word.
RARE = (
    "Retokenization of hyperparameterized detokenizers needs overparameterization; misalignments and "
    "untokenizable subwords appear in multilingual vocabularies."
)
LONGER = " ".join(CORPUS * 2)  # longer than one default window of 384
QUESTIONS = [
    "What does each token have?",
    "What do tokenizers split?",
    "Where was Hugging Face founded?",
    "When was the Eiffel Tower finished?",
    "What is the capital of France?",
    "What turns logits into probabilities?",
    "What keeps the space in front of a word?",
    "How are long contexts cut?",
    "What does the pipeline rank?",
    "Who reads a question and a context?",
    "What scores every token?",
    "What do unanswerable questions point at?",
]
WINDOWS_64 = {"max_seq_len": 64, "doc_stride": 16}
NULL_PULL = [0.5, 1.5]  # start, end


def wordpiece_vocab(size: int) -> dict[str, int]:
    """Special tokens, every character alone and as a "##" piece, then the corpus' most frequent words.

    A rule rather than `tokenizers`' WordPiece trainer, whose vocabulary changes from run to run (ties are
    broken in hash order); words outside the corpus fall apart into single-character pieces.
    """
    from collections import Counter

    from tokenizers.implementations import BertWordPieceTokenizer

    splitter = BertWordPieceTokenizer(lowercase=True)._tokenizer
    words = Counter(
        w
        for text in CORPUS + QUESTIONS
        for w, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(text))
    )
    chars = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    tokens += [w for w, _ in sorted(words.items(), key=lambda wc: (-wc[1], wc[0])) if w not in tokens]
    return {t: i for i, t in enumerate(tokens[:size])}


def build_bert(path: Path) -> None:
    import torch
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    raw = BertWordPieceTokenizer(wordpiece_vocab(400), lowercase=True)
    tok = BertTokenizerFast(tokenizer_object=raw._tokenizer, model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        initializer_range=0.2,
    )
    model = BertForQuestionAnswering(config)
    spread_head(model, tok)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)


def build_roberta(path: Path) -> None:
    import torch
    from tokenizers import processors
    from tokenizers.implementations import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForQuestionAnswering, RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    raw = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    raw.train_from_iterator(CORPUS + QUESTIONS, vocab_size=400, min_frequency=1, special_tokens=specials)
    raw._tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    tok = RobertaTokenizerFast(
        tokenizer_object=raw._tokenizer,
        model_max_length=512,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        add_prefix_space=False,
        trim_offsets=True,
    )
    torch.manual_seed(1)
    config = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
        initializer_range=0.2,
    )
    model = RobertaForQuestionAnswering(config)
    spread_head(model, tok)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)


def spread_head(model: Any, tok: Any) -> None:
    """Random start/end logits spread over a few units, so that answers have clear winners; and a pull towards
    the first token, as SQuAD 2 models learn for unanswerable questions, so that the null answer can win and
    the [CLS] share of each softmax is large enough that normalising without it gives visibly other scores."""
    import torch

    head = model.qa_outputs
    with torch.no_grad():
        head.weight.normal_(0.0, 0.5)
        head.bias.zero_()
        enc = tok(QUESTIONS[:4], [" ".join(CORPUS[i : i + 2]) for i in range(4)], padding=True, return_tensors="pt")
        model.eval()
        hidden = model.base_model(**enc).last_hidden_state
        real = enc["attention_mask"].bool()
        first = hidden[:, 0].mean(0) - hidden[real].mean(0)  # what sets the first token apart from the rest
        head.weight += torch.tensor(NULL_PULL)[:, None] * (first / first.norm())


def build_models() -> None:
    for name, build in ((BERT, build_bert), (ROBERTA, build_roberta)):
        path = MODELS / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        build(path)


class Recorder:
    def __init__(self) -> None:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

        self.pipes: dict[tuple[str, str], Any] = {}
        for name in (BERT, ROBERTA):
            for side in ("right", "left"):
                tok = AutoTokenizer.from_pretrained(MODELS / name)
                tok.padding_side = side  # "left" makes the pipeline put the context first
                model = AutoModelForQuestionAnswering.from_pretrained(MODELS / name)
                self.pipes[name, side] = pipeline("question-answering", model=model, tokenizer=tok, device="cpu")
        self.cases: list[dict[str, Any]] = []

    def answer(
        self, model: str, question: str, context: str, settings: dict[str, Any], padding_side: str = "right"
    ) -> tuple[list[dict[str, Any]], int]:
        pipe = self.pipes[model, padding_side]
        out = pipe(question=question, context=context, **settings)
        answers = out if isinstance(out, list) else [out]
        pre = {k: settings[k] for k in ("doc_stride", "max_seq_len", "max_question_len") if k in settings}
        windows = len(list(pipe.preprocess({"question": question, "context": context}, **pre)))
        return [
            {"answer": a["answer"], "score": float(a["score"]), "start": int(a["start"]), "end": int(a["end"])}
            for a in answers
        ], windows

    def record(
        self,
        name: str,
        model: str,
        question: str,
        context: str,
        settings: dict[str, Any],
        padding_side: str = "right",
        why: str = "",
    ) -> dict[str, Any]:
        answers, windows = self.answer(model, question, context, settings, padding_side)
        case = {
            "name": name,
            "why": why,
            "model": model,
            "padding_side": padding_side,
            "question": question,
            "context": context,
            "settings": settings,
            "windows": windows,
            "answers": answers,
        }
        self.cases.append(case)
        return case

    def first(self, model: str, contexts: list[str], settings: dict[str, Any], test: Any) -> tuple[str, str]:
        """The first (question, context) whose v4 answers have the property `test(answers, question, context)`."""
        for context in contexts:
            for q in QUESTIONS:
                if test(self.answer(model, q, context, settings)[0], q, context):
                    return q, context
        raise SystemExit(f"no question gives the wanted answer for {model} {settings}: change a seed")


def first_window_end(context: str, question: str, model: str, settings: dict[str, Any]) -> int:
    """The last context character the first window holds (its answers need no offset mapping)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODELS / model)
    enc = tok(
        question,
        context,
        truncation="only_second",
        max_length=settings["max_seq_len"],
        stride=settings["doc_stride"],
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    return max(e for (s, e), sid in zip(enc["offset_mapping"][0], enc.sequence_ids(0)) if sid == 1)


def starts_mid_word(context: str, start: int) -> bool:
    return 0 < start < len(context) and bool(re.match(r"\w\w", context[start - 1 : start + 1]))


def record_all(rec: Recorder) -> None:
    # Short context, one window.
    q = QUESTIONS[0]
    rec.record("short top_k 1", BERT, q, SHORT, {"top_k": 1})
    rec.record("short top_k 3", BERT, q, SHORT, {"top_k": 3})
    rec.record("short max_answer_len 2", BERT, q, SHORT, {"top_k": 3, "max_answer_len": 2})
    rec.record(
        "max_question_len has no effect with a fast tokenizer",
        BERT,
        q,
        SHORT,
        {"top_k": 3, "max_question_len": 2},
        why="v4 only used max_question_len for slow (Python) tokenizers; answers equal 'short top_k 3'",
    )

    # Many windows: the best answers must come from later windows, through their own offsets.
    def late(answers: list[dict[str, Any]], question: str, context: str) -> bool:
        return answers[0]["start"] > first_window_end(context, question, BERT, WINDOWS_64)

    q_long, long = rec.first(BERT, LONGS, {**WINDOWS_64, "top_k": 1}, late)
    rec.record(
        "long top_k 1",
        BERT,
        q_long,
        long,
        {**WINDOWS_64, "top_k": 1},
        why="the best answer lies beyond the first window",
    )
    rec.record("long top_k 3", BERT, q_long, long, {**WINDOWS_64, "top_k": 3})
    rec.record(
        "long top_k 5 align_to_words false", BERT, q_long, long, {**WINDOWS_64, "top_k": 5, "align_to_words": False}
    )
    rec.record("longer than 384, default windows, top_k 3", BERT, QUESTIONS[2], LONGER, {"top_k": 3})

    # align_to_words: a best span that starts inside a word grows to the whole word.
    def mid_word(answers: list[dict[str, Any]], question: str, context: str) -> bool:
        return bool(answers) and starts_mid_word(context, answers[0]["start"])

    q_mid, mid = rec.first(BERT, [RARE, MEDIUM, SHORT], {"top_k": 1, "align_to_words": False}, mid_word)
    rec.record(
        "mid-word span, align_to_words false",
        BERT,
        q_mid,
        mid,
        {"top_k": 1, "align_to_words": False},
        why="the best token span starts inside a word",
    )
    rec.record(
        "mid-word span, align_to_words true (default)",
        BERT,
        q_mid,
        mid,
        {"top_k": 1},
        why="the same span widened to whole words",
    )
    rec.record("mid-word span top_k 3, align_to_words default", BERT, q_mid, mid, {"top_k": 3})

    # handle_impossible_answer: the empty answer when the [CLS] (null) score beats every span.
    def null_wins(answers: list[dict[str, Any]], question: str, context: str) -> bool:
        return answers[0]["answer"] == "" and answers[0]["start"] == answers[0]["end"] == 0

    q_null, null = rec.first(BERT, [SHORT, MEDIUM], {"top_k": 1, "handle_impossible_answer": True}, null_wins)
    rec.record(
        "handle_impossible_answer, null wins", BERT, q_null, null, {"top_k": 1, "handle_impossible_answer": True}
    )
    rec.record("handle_impossible_answer off, same input", BERT, q_null, null, {"top_k": 1})
    rec.record(
        "handle_impossible_answer top_k 3", BERT, QUESTIONS[0], SHORT, {"top_k": 3, "handle_impossible_answer": True}
    )
    rec.record(
        "handle_impossible_answer over many windows",
        BERT,
        q_long,
        long,
        {**WINDOWS_64, "top_k": 3, "handle_impossible_answer": True},
        why="the null score is the smallest over the windows",
    )

    # RoBERTa: byte-level BPE, offsets trimmed of the leading space; and context-first (left padding).
    rec.record("roberta short top_k 3", ROBERTA, QUESTIONS[0], SHORT, {"top_k": 3})
    rec.record("roberta long top_k 3", ROBERTA, q_long, long, {**WINDOWS_64, "top_k": 3})
    rec.record("roberta rare words align_to_words false", ROBERTA, q_mid, mid, {"top_k": 3, "align_to_words": False})
    rec.record(
        "roberta left padding short top_k 3",
        ROBERTA,
        QUESTIONS[0],
        SHORT,
        {"top_k": 3},
        "left",
        why="a tokenizer that pads left puts the context first; v4 then masks nothing but padding",
    )
    rec.record("roberta left padding long top_k 3", ROBERTA, q_long, long, {**WINDOWS_64, "top_k": 3}, "left")
    rec.record("bert left padding rare words top_k 3", BERT, q_mid, mid, {"top_k": 3}, "left")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record-only", action="store_true", help="keep the committed models")
    args = parser.parse_args()
    import tokenizers
    import torch
    import transformers

    if not transformers.__version__.startswith("4.57."):
        sys.exit(f"run this with transformers 4.57 (found {transformers.__version__}): see the docstring")
    if not args.record_only:
        build_models()
    rec = Recorder()
    record_all(rec)
    plain = next(c for c in rec.cases if c["name"] == "short top_k 3")["answers"]
    ignored = next(c for c in rec.cases if c["name"].startswith("max_question_len"))["answers"]
    assert plain == ignored, "max_question_len changed the answers: the case's note no longer holds"
    for c in rec.cases:  # a near tie could flip on float noise between the two libraries: keep clear gaps
        scores = [a["score"] for a in c["answers"]]
        close = [(a, b) for a, b in zip(scores, scores[1:]) if a - b < 1e-4 * a]
        assert not close, f"{c['name']}: scores {close} too close to rank reliably; change a seed"
    out = {
        "generated_by": "scripts/v4_reference_qa.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "cases": rec.cases,
    }
    (REFERENCE / "v4_qa.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    for c in rec.cases:
        shown = "; ".join(f"{a['answer']!r} {a['score']:.4g} {a['start']}:{a['end']}" for a in c["answers"])
        print(f"{c['name']:<48} windows {c['windows']:>2}  {shown}")


if __name__ == "__main__":
    main()
