"""A generated or scored text token by token: what each token adds to the text, how probable it was, what the
model would have picked instead, and the branches a user made by choosing another token.

Plain data (no tensors, no model): results carry it, the UI draws it, `to_jsonable` prints it. The model that
made a trace is found again through `model_key` (`remember` / `model_of` below) when a branch is continued,
only while something else keeps that model loaded.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_hf.core.errors import RunStateError
from tui_hf.core.tasks.common import DecodeStep
from tui_hf.core.tokens import readable

if TYPE_CHECKING:
    from tui_hf.core.models import LoadedModel


@dataclass
class Alternative:
    id: int
    token: str  # the vocabulary string ('Ġthe')
    probability: float

    @property
    def readable(self) -> str:
        return readable(self.token)


@dataclass
class TracedToken:
    id: int
    token: str  # the vocabulary string
    text: str  # what the token adds to the decoded text ('' for a skipped special token, or the 2nd..nth
    # token of one character split into bytes: the character goes with the group's first token)
    probability: float | None  # under the distribution it was chosen from (or scored in); None: context only
    rank: int = 0  # 1 = the most probable token at its step
    top: list[Alternative] = field(default_factory=list)  # best first
    special: bool = False

    @property
    def logprob(self) -> float | None:
        if self.probability is None:
            return None
        return math.log(self.probability) if self.probability > 0 else -math.inf

    @property
    def shown(self) -> str:
        """What a viewer draws for the token: its text, or its vocabulary string when it adds none."""
        return self.text if self.text else readable(self.token)


@dataclass
class Branch:
    id: int
    parent: int | None  # the branch it was forked from; None for the first
    fork: int  # the position of its first own token (the alternative chosen); 0 for the first branch
    tokens: list[TracedToken] = field(default_factory=list)
    stop: str = ""  # why it ended: "eos", "length", "cancelled"; "" while it grows

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]


@dataclass
class Trace:
    """The tokens after a prompt, as one or more branches; `active` is the one shown."""

    prompt: str  # the text before the tokens (shown dim; the rendered template for a chat)
    prompt_ids: list[int]
    branches: list[Branch]
    active: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # the run's settings: a fork continues with them
    task: str = "text-generation"
    max_new_tokens: int = 0  # a fork generates up to this many tokens after the prompt, in all
    model_key: str = ""  # the loaded model that made it (`remember` keeps it while it is loaded)
    model: str = ""  # its title, for people

    def branch(self, branch_id: int) -> Branch:
        return next(b for b in self.branches if b.id == branch_id)

    @property
    def current(self) -> Branch:
        return self.branch(self.active)

    def add(self, branch: Branch) -> None:
        """Keep a new branch and show it."""
        branch.id = max((b.id for b in self.branches), default=-1) + 1
        self.branches.append(branch)
        self.active = branch.id

    def switch(self, step: int) -> Branch:
        """Show the next (step 1) or previous (-1) branch, in the order they were made."""
        index = next(i for i, b in enumerate(self.branches) if b.id == self.active)
        self.active = self.branches[(index + step) % len(self.branches)].id
        return self.current

    def forks_at(self, branch_id: int, position: int) -> dict[int, int]:
        """Token id -> branch, for the branches that share `branch_id`'s tokens before `position` and differ
        from it at `position` (what choosing that alternative again would switch to)."""
        base = self.branch(branch_id).ids
        out: dict[int, int] = {}
        for b in self.branches:
            ids = b.ids
            if (
                b.id != branch_id
                and len(ids) > position
                and ids[:position] == base[:position]
                and (position >= len(base) or ids[position] != base[position])
            ):
                out.setdefault(ids[position], b.id)
        return out


def token_texts(tok: Any, ids: list[int], context: list[int] | None = None, window: int = 6) -> list[str]:
    """What each of `ids` adds to the decoded text (special tokens skipped), after `context` (the prompt's ids).

    Each token's text is the difference between decoding a few tokens before it with and without it, so a
    decoder that spaces by position (SentencePiece drops a leading space; a continuation follows its prompt)
    gives the spacing it gives the whole text. Tokens that only make a character together (byte-level or
    byte-fallback pieces of one UTF-8 character) are decoded as a group; the first token carries the text.
    The decoded slice starts `window` to 2 x `window` tokens back, so that one token's decode with it is the
    next one's without it: one decode per token.
    """
    context = list(context or [])[-window:]
    full = context + list(ids)
    out: list[str] = []
    k = len(context)
    s = max(0, k - window)
    base = tok.decode(full[s:k], skip_special_tokens=True) if k > s else ""
    while k < len(full):
        if k - s > 2 * window:
            s = k - window
            base = tok.decode(full[s:k], skip_special_tokens=True)
        j = k + 1
        after = tok.decode(full[s:j], skip_special_tokens=True)
        while (after.endswith("\ufffd") or not after.startswith(base)) and j < min(len(full), k + 4):
            j += 1
            after = tok.decode(full[s:j], skip_special_tokens=True)
        out.append(after[len(base) :] if after.startswith(base) else after)
        out.extend([""] * (j - k - 1))
        k, base = j, after
    return out


class TokenBuilder:
    """Turns recorded steps into TracedTokens as they arrive (a streaming run asks again and again: only the
    new steps, and the last group that may still be waiting for the rest of a character, are decoded)."""

    def __init__(self, tok: Any, context: list[int]) -> None:
        self.tok = tok
        self.context = list(context)
        self.special = set(getattr(tok, "all_special_ids", []) or [])
        self.tokens: list[TracedToken] = []
        self._done = 0  # tokens whose text can no longer change
        self._vocab: dict[int, str] = {}  # id -> vocabulary string, for the ids seen so far

    def update(self, steps: list[DecodeStep]) -> list[TracedToken]:
        steps = list(steps)
        redo = min(self._done, len(self.tokens))
        ids = [s.token_id for s in steps]
        texts = token_texts(self.tok, ids[redo:], self.context + ids[:redo])
        new = steps[len(self.tokens) :]
        vocab = self._vocab
        unknown = list({i for s in new for i in (s.token_id, *(a for a, _p in s.top))}.difference(vocab))
        vocab.update(zip(unknown, self.tok.convert_ids_to_tokens(unknown)))  # alternatives recur: look up once
        made: list[TracedToken] = []
        for s in new:
            top = [Alternative(i, vocab[i], p) for i, p in s.top]
            made.append(
                TracedToken(
                    s.token_id,
                    vocab[s.token_id],
                    "",
                    s.probability if s.probability >= 0 else None,
                    s.rank,
                    top,
                    s.token_id in self.special,
                )
            )
        self.tokens += made
        for k, text in enumerate(texts):
            self.tokens[redo + k].text = text
        # The last group may still grow (a character's later bytes): it is decoded again next time.
        last = len(self.tokens) - 1
        while last > redo and self.tokens[last].text == "":
            last -= 1
        self._done = max(last, 0)
        return list(self.tokens)


class Every:
    """True at most once per `seconds` (the first call included): a streaming run hands its partial trace on
    at a reader's pace, not per token. Building one costs decodes on generate's own thread, which waits for
    them: per token, it made generation 10-15 % slower (bench/generation.py)."""

    def __init__(self, seconds: float = 1 / 15) -> None:
        self.seconds = seconds
        self._last = -math.inf

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


def build_tokens(tok: Any, steps: list[DecodeStep], context: list[int]) -> list[TracedToken]:
    return TokenBuilder(tok, context).update(steps)


def stop_reason(tokens: list[TracedToken], eos_ids: set[int], max_new_tokens: int, cancelled: bool = False) -> str:
    if cancelled:
        return "cancelled"
    if tokens and tokens[-1].id in eos_ids:
        return "eos"
    if max_new_tokens and len(tokens) >= max_new_tokens:
        return "length"
    return "stopped"


def eos_ids(loaded: Any, config: Any = None) -> set[int]:
    """The ids that end generation: the generation config's, else the tokenizer's."""
    value = getattr(config, "eos_token_id", None)
    if value is None:
        value = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    if value is None:
        value = loaded.tokenizer.eos_token_id
    if value is None:
        return set()
    return set(value) if isinstance(value, (list, tuple)) else {int(value)}


_MODELS: weakref.WeakValueDictionary[str, LoadedModel] = weakref.WeakValueDictionary()


def remember(loaded: LoadedModel) -> str:
    """A key under which forks find `loaded` again (while something else keeps it loaded)."""
    key = f"{loaded.info.source}#{id(loaded)}"
    _MODELS[key] = loaded
    return key


def model_of(trace: Trace) -> LoadedModel:
    found = _MODELS.get(trace.model_key)
    if found is None:
        raise RunStateError("the model that wrote this text is no longer loaded: run again to branch from it")
    return found
