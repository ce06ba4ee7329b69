"""Reading what the app shows, as text."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console


def text_of(widget: Any, width: int = 140) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    content = widget.content if hasattr(widget, "content") else widget.render()
    console.print(content)
    return console.export_text()


# A chat template's pieces: every turn as <|role|>content, and the assistant's cue when a reply is asked for.
TURNS = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
PROMPT_TURN = "{% if add_generation_prompt %}<|assistant|>{% endif %}"


def llama_like_tokenizer() -> Any:
    """A SentencePiece-style Unigram tokenizer with byte fallback that adds <s> to whatever it encodes, as
    Llama's does (a chat template writing {{ bos_token }} too then doubles it)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["▁hello", "▁there", "▁the", "▁quick", "▁fox", "▁", "<", "|", ">", *"usera", *"itnhloqckfx", "\n"]
    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    vocab += [(w, -1.0 - k * 0.1) for k, w in enumerate(words)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    )
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def slow_each_step(model: Any, seconds: float = 0.005) -> None:
    """Make every forward pass a few ms slower, for tests that must catch a generation while it runs.

    At model.generate's pace a tiny model writes its 1,024 positions in about a second, which a busy (or an
    idle, fast) machine can spend before the test has seen the run streaming and pressed cancel.
    """
    forward = model.forward
    model.forward = lambda *a, **kw: (time.sleep(seconds), forward(*a, **kw))[1]
