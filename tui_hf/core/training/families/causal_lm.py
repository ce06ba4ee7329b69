"""Causal language modelling: the model learns to continue its texts, joined and cut into max_length blocks
(run_clm.py's group_texts); scored by perplexity."""

from __future__ import annotations

from typing import Any

from tui_hf.core.training.families.base import Family, clip, perplexity
from tui_hf.core.training.families.masked_lm import group_texts

MAX_NEW_TOKENS = 16


class CausalLM(Family):
    task = "causal-lm"
    title = "causal language model"
    head = "CausalLM"
    inference_task = "text-generation"
    labelled = False
    columns = ("text", "")
    metrics = ("eval_loss", "eval_perplexity")
    per_position = True
    shifted = True
    scores_logits = False

    def prepare_tokenizer(self, tokenizer: Any) -> None:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        # Whole texts, joined and cut into max_length blocks afterwards (group), as run_clm.py does: no text is
        # truncated and no position is padding.
        return tokenizer(batch["text"])

    def group(self, encoded: dict[str, list[Any]], data: Any) -> dict[str, list[Any]]:
        return group_texts(dict(encoded), data.max_length)

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def from_loss(self, metrics: dict[str, float]) -> None:
        if "eval_loss" in metrics:
            metrics["eval_perplexity"] = perplexity(metrics["eval_loss"])

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        """The first half of each text's words as a prompt, a greedy continuation of up to 16 tokens against
        the text's own continuation; confidence the mean probability of the generated tokens."""
        out = []
        for text in rows["text"]:
            words = text.split()
            cut = max(1, len(words) // 2)
            prompt, gold = " ".join(words[:cut]), " ".join(words[cut:])
            enc = tokenizer(prompt, return_tensors="pt").to(device)
            result = model.generate(
                **enc,
                max_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = result.sequences[0, enc["input_ids"].shape[1] :]
            probs = [float(score[0].float().softmax(-1)[t]) for score, t in zip(result.scores, new)]
            out.append(
                {
                    "text": clip(prompt),
                    "gold": clip(gold),
                    "prediction": clip(tokenizer.decode(new, skip_special_tokens=True)),
                    "confidence": round(sum(probs) / len(probs), 4) if probs else 0.0,
                }
            )
        return out


FAMILY = CausalLM()
