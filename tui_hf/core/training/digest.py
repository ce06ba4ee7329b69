"""The digest of a batch that the job records at each step and the X-ray recomputes: one function for both
sides (the collator while training, the rebuild in xray.py), so the two can only differ by the data."""

from __future__ import annotations

import hashlib
from typing import Any

HASH_VERSION = 2  # 2: input ids and labels; a record without "hash_v" has the input ids' digest only


def batch_hash(input_ids: Any, labels: Any = None) -> str:
    """A short digest of a batch's input ids and labels (shapes included), the same on any device.

    Labels are what the loss trains towards: a label edited in the data changes them and not the ids. Without
    labels it is the older, ids-only digest (what records without "hash_v" hold)."""
    import torch

    digest = hashlib.blake2b(digest_size=8)
    for i, tensor in enumerate((input_ids, labels)):
        if tensor is None:
            continue
        values = tensor.detach().to("cpu", torch.int64).contiguous()
        digest.update((b"labels" if i else b"") + str(tuple(values.shape)).encode())
        digest.update(values.numpy().tobytes())
    return digest.hexdigest()
