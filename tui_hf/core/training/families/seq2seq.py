"""Sequence to sequence (translation, summarization, text2text): a source text and the target the decoder
learns to write. Evaluated as run_translation.py / run_summarization.py evaluate: the model generates each
validation target (predict_with_generate), scored by sacrebleu's corpus BLEU and rouge-score's ROUGE-1/2/L
F-measures (0-100) and the mean generated length, computed in-process by the field's own libraries.

The inputs are made the way the inference side asks the model (core/seq2seq_io): a tokenizer that marks
languages with tokens (mBART, NLLB, M2M100) gets the data's source_lang / target_lang and forces the target
language first when generating; other models get a prefix, the data's source_prefix or the one the config
names for the task (T5's "summarize: ", "translate English to German: ").
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tui_hf.core.errors import SpecError
from tui_hf.core.seq2seq_io import config_prefix, forced_language_token, language_codes, task_params
from tui_hf.core.training.families.base import Family, clip

DEFAULT_TARGET_COLUMN = "target"
LIBRARY_MAX_LENGTH = 20  # GenerationConfig's max_length when a model sets none


def bleu(predictions: list[str], references: list[list[str]]) -> float:
    """sacrebleu's corpus BLEU (0-100) of the predictions, each against its own reference(s)."""
    import sacrebleu

    if not predictions:
        return 0.0
    streams = [list(stream) for stream in zip(*references)]  # sacrebleu takes one list per reference set
    return float(sacrebleu.corpus_bleu(predictions, streams).score)


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """rouge-score's ROUGE-1, ROUGE-2 and ROUGE-L F-measures (0-100), averaged over the pairs, with the Porter
    stemmer as run_summarization.py asks for it."""
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL")
    if not predictions:
        return dict.fromkeys(keys, 0.0)
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # (target, prediction), as rouge-score orders them
        for key in keys:
            totals[key] += scores[key].fmeasure
    return {key: 100 * total / len(predictions) for key, total in totals.items()}


def text_scores(predictions: list[str], references: list[str], lengths: list[int]) -> dict[str, float]:
    """Every metric of an evaluation (without the eval_ prefix) from the decoded texts and generated lengths."""
    out = {"bleu": bleu(predictions, [[r] for r in references])}
    out.update(rouge(predictions, references))
    out["gen_len"] = sum(lengths) / len(lengths) if lengths else 0.0
    return out


def decode_generated(tokenizer: Any, preds: list[Any], labels: list[Any]) -> tuple[list[str], list[str], list[int]]:
    """Generated ids and labels (per batch, -100 where nothing was scored or padded) as texts, and each
    generation's length in non-pad tokens (run_summarization.py's gen_len)."""
    import numpy as np

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    texts, golds, lengths = [], [], []
    for p_batch, l_batch in zip(preds, labels):
        p_batch = np.where(np.asarray(p_batch) != -100, np.asarray(p_batch), pad)
        l_batch = np.where(np.asarray(l_batch) != -100, np.asarray(l_batch), pad)
        texts += [t.strip() for t in tokenizer.batch_decode(p_batch, skip_special_tokens=True)]
        golds += [t.strip() for t in tokenizer.batch_decode(l_batch, skip_special_tokens=True)]
        lengths += [int(np.count_nonzero(row != pad)) for row in p_batch]
    return texts, golds, lengths


def _model_config(tokenizer: Any) -> Any:
    """The config beside the tokenizer (the model's directory, or its cached hub files); None if unreadable."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    except Exception:
        return None


def source_prefix(config: Any, data: Any, tokenizer: Any) -> str:
    """What goes before each source text: the data's source_prefix when set; none for a model that marks
    languages with tokens; else the config's prefix for the task (a translation pair's when the languages are
    set, summarization's otherwise), else a model-wide config.prefix."""
    if data.source_prefix is not None:
        return data.source_prefix
    if language_codes(tokenizer) is not None or config is None:
        return ""
    if data.source_lang and data.target_lang:
        key = f"translation_{data.source_lang}_to_{data.target_lang}"
    else:
        key = "summarization"
    return str(task_params(config, key).get("prefix", "") or config_prefix(config))


def set_languages(tokenizer: Any, data: Any) -> tuple[str, str] | None:
    """For a tokenizer that marks languages: set its source and target codes from the data (or keep its own),
    refusing a code it does not know; returns (family, forced token). None for other tokenizers."""
    marked = language_codes(tokenizer)
    if marked is None:
        return None
    family, codes = marked
    src = data.source_lang or getattr(tokenizer, "src_lang", None)
    tgt = data.target_lang or getattr(tokenizer, "tgt_lang", None)
    shown = ", ".join(codes[:6]) + ("..." if len(codes) > 6 else "")
    for key, value in (("source_lang", src), ("target_lang", tgt)):
        if not value:
            raise SpecError(f"this model marks languages with tokens: set {key} to one of its codes ({shown})")
        if value not in codes:
            raise SpecError(f"{key} {value!r} is not one of this model's language codes ({shown})")
    tokenizer.src_lang, tokenizer.tgt_lang = src, tgt
    return family, forced_language_token(tokenizer, family, tgt)


def generation_kwargs(model: Any, max_length: int) -> dict[str, Any]:
    """How evaluation generates: the model's generation config (its beams, its max_length or max_new_tokens),
    the same for both engines; without a length of the model's own, the data's max_length (targets are cut
    there: run_summarization.py's val_max_target_length), within the decoder's positions."""
    config = model.generation_config
    out: dict[str, Any] = {"num_beams": int(config.num_beams or 1)}
    if config.max_new_tokens is not None:
        out["max_new_tokens"] = int(config.max_new_tokens)
    elif config.max_length not in (None, LIBRARY_MAX_LENGTH):
        out["max_length"] = int(config.max_length)
    else:
        positions = getattr(model.config, "max_position_embeddings", None)
        out["max_length"] = min(int(positions), max_length) if isinstance(positions, int) else max_length
    return out


class Seq2Seq(Family):
    task = "seq2seq"
    title = "sequence to sequence (translation, summarization)"
    head = "Seq2SeqLM"
    inference_task = "summarization"
    labelled = False
    columns = ("source", DEFAULT_TARGET_COLUMN)
    metrics: ClassVar[tuple[str, ...]] = (
        "eval_loss",
        "eval_bleu",
        "eval_rouge1",
        "eval_rouge2",
        "eval_rougeL",
        "eval_gen_len",
    )
    per_position = True
    scores_logits = False
    generates = True
    decodes = True
    xray_note = "→ the decoder labels: the target tokens the decoder is trained to write, one per position"

    def inference_task_for(self, spec: Any) -> str:
        return "translation" if spec.data.source_lang and spec.data.target_lang else self.inference_task

    def encoding_data(self, spec: Any, tokenizer: Any) -> Any:
        set_languages(tokenizer, spec.data)
        prefix = source_prefix(_model_config(tokenizer), spec.data, tokenizer)
        return dataclasses.replace(spec.data, source_prefix=prefix)

    def prepare_model(self, model: Any, tokenizer: Any, spec: Any) -> None:
        languages = set_languages(tokenizer, spec.data)
        if languages is not None:  # the target language is the first token generated (saved with the model)
            model.generation_config.forced_bos_token_id = int(tokenizer.convert_tokens_to_ids(languages[1]))

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        prefix = data.source_prefix or ""
        # No segment ids: a source is one segment (all zeros), and an encoder-decoder's generate refuses them
        # ("model_kwargs are not used") where a BERT-style tokenizer would add them.
        return tokenizer(
            [prefix + t for t in batch["text"]],
            text_target=batch["target"],
            truncation=True,
            max_length=data.max_length,
            return_token_type_ids=False,
        )

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        from transformers import DataCollatorForSeq2Seq

        # Without the model: the model shifts the labels into decoder inputs itself.
        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)

    def generation_kwargs(self, model: Any, spec: Any) -> dict[str, Any]:
        return generation_kwargs(model, spec.data.max_length)

    def score_generated(self, tokenizer: Any, preds: list[Any], labels: list[Any]) -> dict[str, float]:
        return text_scores(*decode_generated(tokenizer, preds, labels))

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        """Each source generated as evaluation generates it, against its target; confidence the mean
        probability of the generated tokens."""
        import math

        prefix = source_prefix(model.config, spec.data, tokenizer)
        kwargs = generation_kwargs(model, spec.data.max_length)
        out = []
        for source, target in zip(rows["text"], rows["target"]):
            enc = tokenizer(
                prefix + source,
                truncation=True,
                max_length=spec.data.max_length,
                return_tensors="pt",
                return_token_type_ids=False,
            )
            result = model.generate(
                **enc.to(device), **kwargs, output_scores=True, return_dict_in_generate=True, do_sample=False
            )
            sequence = result.sequences[0]
            scores = model.compute_transition_scores(
                result.sequences, result.scores, getattr(result, "beam_indices", None), normalize_logits=True
            )[0]
            finite = [float(s) for s in scores if math.isfinite(float(s))]
            out.append(
                {
                    "text": clip(source),
                    "gold": clip(target),
                    "prediction": clip(tokenizer.decode(sequence, skip_special_tokens=True).strip()),
                    "confidence": round(math.exp(sum(finite) / len(finite)), 4) if finite else 0.0,
                }
            )
        return out


FAMILY = Seq2Seq()
