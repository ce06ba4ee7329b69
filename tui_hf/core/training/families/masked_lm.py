"""Masked language modelling (domain adaptation, as the course adapts DistilBERT to movie reviews): the texts
concatenated and cut into max_length blocks (run_mlm.py's group_texts), 15 % of the tokens masked afresh in
each batch; scored by perplexity."""

from __future__ import annotations

from typing import Any

from tui_hf.core.training.families.base import Family, clip, perplexity

TOP = 3  # guesses shown per masked token


def group_texts(encoded: dict[str, list[Any]], block: int) -> dict[str, list[Any]]:
    """The rows joined end to end and cut into blocks of `block` tokens. The short remainder is dropped, as
    run_mlm.py drops it, unless it is all there is (a handful of short texts still trains)."""
    keys = [k for k in encoded if isinstance(encoded[k], list) and encoded[k] and isinstance(encoded[k][0], list)]
    joined = {k: [x for row in encoded[k] for x in row] for k in keys}
    total = len(joined["input_ids"])
    end = (total // block) * block if total >= block else total
    return {k: [v[i : i + block] for i in range(0, end, block)] for k, v in joined.items()}


class BatchSeededMasks:
    """DataCollatorForLanguageModeling drawing each batch's masks from a generator seeded by the batch itself
    (its token ids and the run's seed) instead of the global one.

    With the global generator a resumed Trainer run masks other tokens than an uninterrupted one (its loader
    collates the next batch before the checkpoint saves the generator's state), and the X-ray could never
    rebuild the batch that trained. Seeded by content, a batch gets the same masks wherever it is collated;
    the epochs still see other masks (their batches are other mixes of blocks), and every evaluation masks the
    same tokens, so evaluations compare.
    """

    def __init__(self, inner: Any, seed: int) -> None:
        self.inner, self.seed = inner, seed

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        import hashlib
        from array import array

        import torch

        digest = hashlib.blake2b(str(self.seed).encode(), digest_size=8)
        for f in features:
            digest.update(array("q", f["input_ids"]).tobytes() + b"|")
        self.inner.generator = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)
        return self.inner(features)


class MaskedLM(Family):
    task = "masked-lm"
    title = "masked language model (domain adaptation)"
    head = "MaskedLM"
    inference_task = "fill-mask"
    labelled = False
    columns = ("text", "")
    metrics = ("eval_loss", "eval_perplexity")
    per_position = True
    scores_logits = False
    xray_note = "(token) is not trained on; token/TARGET: a masked position and the token it must restore"

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        # Whole texts, cut into blocks afterwards (group); special tokens marked so they are never masked.
        # Whole-word masking finds where words start from the tokens' character offsets, as the collator does.
        words = getattr(data, "whole_word_masking", False)
        if words and not tokenizer.is_fast:
            from tui_hf.core.errors import SpecError

            raise SpecError("whole_word_masking needs a fast tokenizer (tokenizer.json): this model has none")
        return tokenizer(batch["text"], return_special_tokens_mask=True, return_offsets_mapping=words)

    def group(self, encoded: dict[str, list[Any]], data: Any) -> dict[str, list[Any]]:
        return group_texts(dict(encoded), data.max_length)

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        from transformers import DataCollatorForLanguageModeling

        if getattr(spec.data, "whole_word_masking", False):
            # A word's sub-tokens masked together; with whole words transformers only ever writes [MASK] (said
            # here, or it warns at each start and sets it).
            inner = DataCollatorForLanguageModeling(
                tokenizer,
                mlm=True,
                whole_word_mask=True,
                mlm_probability=0.15,
                mask_replace_prob=1,
                random_replace_prob=0,
            )
        else:
            inner = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)
        return BatchSeededMasks(inner, spec.seed)

    def from_loss(self, metrics: dict[str, float]) -> None:
        if "eval_loss" in metrics:
            metrics["eval_perplexity"] = perplexity(metrics["eval_loss"])

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        """One word in the middle of each text masked: the model's top guesses for it against the word."""
        out = []
        for text in rows["text"]:
            enc = tokenizer(text, truncation=True, max_length=spec.data.max_length, return_tensors="pt")
            ids = enc["input_ids"][0]
            inner = list(range(1, len(ids) - 1))
            if not inner or tokenizer.mask_token_id is None:
                continue
            at = inner[len(inner) // 2]
            gold = tokenizer.convert_ids_to_tokens(int(ids[at]))
            ids = ids.clone()
            ids[at] = tokenizer.mask_token_id
            enc["input_ids"] = ids.unsqueeze(0)
            probs = model(**{k: v.to(device) for k, v in enc.items()}).logits[0, at].float().softmax(-1).cpu()
            top = probs.topk(TOP)
            guesses = tokenizer.convert_ids_to_tokens(top.indices.tolist())
            shown = tokenizer.decode(ids[1:-1])
            out.append(
                {
                    "text": clip(shown),
                    "gold": gold,
                    "prediction": " / ".join(guesses),
                    "confidence": round(float(top.values[0]), 4),
                }
            )
        return out


FAMILY = MaskedLM()
