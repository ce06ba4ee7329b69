"""Predictions during training: the same few validation examples, predicted at every evaluation.

Watching one example's prediction move from wrong to right says what a metric cannot. The first
`spec.predictions` validation rows are used (the same ones each time, so evaluations compare). Each item:

    {"text": ..., "gold": ..., "prediction": ..., "confidence": 0.0-1.0}

Each family (core/training/families) says what its items hold: the predicted class and its probability;
the tag of each word's first sub-token; a greedy continuation of the text's first half...
"""

from __future__ import annotations

from typing import Any


def predict_examples(model: Any, tokenizer: Any, spec: Any, prep: Any, device: Any = None) -> list[dict[str, Any]]:
    """Predictions for the first `spec.predictions` validation rows, as the run's family makes them; [] when
    there are none."""
    import torch

    from tui_hf.core.training.families import family

    rows = prep.eval_raw
    count = min(spec.predictions, len(rows)) if rows is not None else 0
    if count <= 0:
        return []
    rows = rows.select(range(count))
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return family(spec.task).predict(model, tokenizer, rows, prep.labels, device, spec)
    finally:
        if was_training:
            model.train()
