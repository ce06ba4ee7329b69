"""The task registry: what each task needs, which model class serves it, and where its stages object lives.

The UI builds its input form and output view from these declarations, and the command line validates
`--task` against them, so adding a task means adding one entry here and one task module (a `Task` subclass,
core/tasks/base.py). The generation settings are declared once here and shared by the tasks that generate.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tui_hf.core.errors import UnknownTaskError

if TYPE_CHECKING:
    from tui_hf.core.tasks.base import Task
    from tui_hf.core.tasks.common import Runner

FieldKind = Literal["text", "int", "float", "bool", "choice"]


@dataclass(frozen=True)
class InputField:
    """A setting a task takes besides its main text (a question, labels, generation settings...)."""

    name: str
    label: str
    kind: FieldKind
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    multiline: bool = False


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    summary: str
    model_class: str  # the transformers Auto class that loads a model for this task
    default_model: str  # the hub id Hugging Face uses for this task
    runner: RunnerRef  # where the task's stages object lives; imported on first use, so listing tasks imports no torch
    aliases: tuple[str, ...] = ()
    pipeline: str | None = None  # the transformers 5 pipeline used, None where v5 removed it
    text_label: str = "Text"
    batch: bool = True  # one input per line makes a batch
    fields: tuple[InputField, ...] = ()

    def load_runner(self) -> Runner:
        return self.runner.load()

    def defaults(self) -> dict[str, Any]:
        """The registry's defaults; None means "the model's" (tasks.forms.task_settings gives the value
        once a model is loaded)."""
        return {f.name: f.default for f in self.fields}


# The parameters every runner takes, in this order (tasks.common.Runner); `explain` keyword-only.
RUNNER_PARAMETERS = ("loaded", "texts", "options", "cancel", "emit", "explain")


@dataclass(frozen=True)
class RunnerRef:
    """A task's stages object (core/tasks/base.py `Task`), named and imported lazily (the task modules import
    torch and transformers): `load` returns it, and refuses anything that is not a Task or whose call does not
    follow the `Runner` contract, so a reference that drifts fails at its first load (and in
    tests/test_tasks_core.py for every task) rather than with a TypeError mid-run."""

    module: str  # under tui_hf.core.tasks
    name: str = "run"  # the Task object in that module

    def load(self) -> Task[Any, Any, Any]:
        from tui_hf.core.tasks.base import Task

        found = getattr(importlib.import_module(f"tui_hf.core.tasks.{self.module}"), self.name)
        if not isinstance(found, Task):
            raise TypeError(f"{self} is {found!r}, not a Task: a Runner takes {RUNNER_PARAMETERS}")
        params = inspect.signature(found).parameters
        names = tuple(params)
        if names != RUNNER_PARAMETERS or params["explain"].kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{self} takes {names}: a Runner takes {RUNNER_PARAMETERS}, explain keyword-only")
        return found

    def __str__(self) -> str:
        return f"tui_hf.core.tasks.{self.module}:{self.name}"


# A field whose default is None takes the model's value (tasks/forms.py: task_settings says which).
_MODELS = "The model's unless set"
_SCORE = (
    "Score the text instead of continuing it: each token's log-probability given the ones before it, and the perplexity"
)
_SCORE_CHAT = (
    "Score the conversation's replies instead of writing one: the texts continue it as turns of "
    "their own (user and assistant in turn); each reply's log-probabilities and perplexity"
)
_SECOND = (
    "Another model (hub id or directory, e.g. runs/<id>/final) that runs the same input with the same "
    "settings, its output beside this one's"
)

# The generation settings, declared once; each generating task takes the ones it offers, in its form's order.
_GENERATION = {
    field.name: field
    for field in (
        InputField("max_new_tokens", "Max new tokens", "int", None, _MODELS),
        InputField("min_new_tokens", "Min new tokens", "int", None, _MODELS),
        InputField("num_return_sequences", "Sequences", "int", 1),
        InputField("do_sample", "Sample", "bool", None, _MODELS),
        InputField("temperature", "Temperature", "float", None, _MODELS + " (used when sampling)"),
        InputField("top_p", "Top p", "float", None, _MODELS + " (used when sampling)"),
        InputField("num_beams", "Beams", "int", None, _MODELS),
        InputField("length_penalty", "Length penalty", "float", None, _MODELS + "; above 1 favours longer"),
        InputField("no_repeat_ngram_size", "No repeat n-gram", "int", None, _MODELS),
        InputField("seed", "Seed", "int", 0),
    )
}


def generation_fields(*names: str) -> tuple[InputField, ...]:
    return tuple(_GENERATION[name] for name in names)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="feature-extraction",
            title="Feature extraction",
            summary="Embeddings: one vector per token, pooled per input; cosine similarity between inputs.",
            model_class="AutoModel",
            default_model="distilbert/distilbert-base-cased",
            runner=RunnerRef("embedding"),
            pipeline="feature-extraction",
            fields=(
                InputField(
                    "pooling",
                    "Pooling",
                    "choice",
                    "mean",
                    "How token vectors become one vector",
                    choices=("mean", "cls", "max"),
                ),
                InputField("normalize", "Normalize", "bool", True, "L2-normalize pooled vectors"),
            ),
        ),
        TaskSpec(
            name="text-classification",
            title="Sentiment analysis",
            summary="Classify each input; every label with its score.",
            aliases=("sentiment-analysis",),
            model_class="AutoModelForSequenceClassification",
            default_model="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            runner=RunnerRef("classification"),
            pipeline="text-classification",
            fields=(
                InputField(
                    "text_pair",
                    "Second text",
                    "text",
                    "",
                    "A sentence pair's second text, read after each input (the tokenizer's separator between, as a model "
                    "finetuned on pairs reads them); empty: each input alone",
                ),
            ),
        ),
        TaskSpec(
            name="token-classification",
            title="Named entities",
            summary="Label each word (named entities); entities shown inline by type.",
            aliases=("ner",),
            model_class="AutoModelForTokenClassification",
            default_model="dbmdz/bert-large-cased-finetuned-conll03-english",
            runner=RunnerRef("token_classification"),
            pipeline="token-classification",
            fields=(
                InputField(
                    "aggregation_strategy",
                    "Aggregation",
                    "choice",
                    "simple",
                    "How sub-word predictions merge into entities",
                    choices=("none", "simple", "first", "average", "max"),
                ),
            ),
        ),
        TaskSpec(
            name="question-answering",
            title="Question answering",
            summary="Extract the answer span to a question from a context (sliding windows for long ones).",
            model_class="AutoModelForQuestionAnswering",
            default_model="distilbert/distilbert-base-cased-distilled-squad",
            runner=RunnerRef("qa"),
            text_label="Question",
            batch=False,
            fields=(
                InputField("context", "Context", "text", "", "The passage that holds the answer", multiline=True),
                InputField("top_k", "Top k", "int", 1, "How many answers to show, best first"),
                InputField("max_answer_len", "Max answer length", "int", 15, "The longest answer, in tokens"),
                InputField(
                    "handle_impossible_answer",
                    "Allow no answer",
                    "bool",
                    False,
                    "Answer nothing (an empty answer) when the model's no-answer score beats every span",
                ),
                InputField(
                    "align_to_words",
                    "Whole words",
                    "bool",
                    True,
                    "Widen an answer that starts or ends inside a word to the whole word",
                ),
                InputField(
                    "max_seq_len",
                    "Window",
                    "int",
                    None,
                    "Tokens per window, question included; empty: the tokenizer's limit, at most 384",
                ),
                InputField(
                    "doc_stride",
                    "Stride",
                    "int",
                    None,
                    "Tokens shared by consecutive windows of a long context; empty: half a window, at most 128",
                ),
            ),
        ),
        TaskSpec(
            name="fill-mask",
            title="Fill mask",
            summary="Predict the masked token; top candidates with scores.",
            model_class="AutoModelForMaskedLM",
            default_model="distilbert/distilroberta-base",
            runner=RunnerRef("fill_mask"),
            pipeline="fill-mask",
            fields=(InputField("top_k", "Top k", "int", 5, "Candidates per mask"),),
        ),
        TaskSpec(
            name="summarization",
            title="Summarization",
            summary="Condense a text with a sequence-to-sequence model.",
            model_class="AutoModelForSeq2SeqLM",
            default_model="sshleifer/distilbart-cnn-12-6",
            runner=RunnerRef("seq2seq", "summarize"),
            fields=generation_fields(
                "max_new_tokens", "min_new_tokens", "num_beams", "length_penalty", "no_repeat_ngram_size"
            ),
        ),
        TaskSpec(
            name="translation",
            title="Translation",
            summary="Translate with T5 prefixes or a multilingual model's language codes.",
            model_class="AutoModelForSeq2SeqLM",
            default_model="google-t5/t5-base",
            runner=RunnerRef("seq2seq", "translate"),
            fields=(
                InputField(
                    "src_lang",
                    "Source language",
                    "text",
                    None,
                    "A name (French), an ISO code (fr) or the model's own code (fr_XX, fra_Latn); " + _MODELS,
                ),
                InputField(
                    "tgt_lang",
                    "Target language",
                    "text",
                    None,
                    "A name (French), an ISO code (fr) or the model's own code (fr_XX, fra_Latn); " + _MODELS,
                ),
                *generation_fields("max_new_tokens", "num_beams"),
            ),
        ),
        TaskSpec(
            name="text2text-generation",
            title="Text to text",
            summary="Any instruction to a sequence-to-sequence model.",
            model_class="AutoModelForSeq2SeqLM",
            default_model="google-t5/t5-base",
            runner=RunnerRef("seq2seq", "text2text"),
            fields=generation_fields("max_new_tokens", "num_beams"),
        ),
        TaskSpec(
            name="text-generation",
            title="Text generation",
            summary="Continue a prompt, streamed token by token.",
            model_class="AutoModelForCausalLM",
            default_model="HuggingFaceTB/SmolLM3-3B",
            runner=RunnerRef("generation"),
            text_label="Prompt",
            batch=False,
            pipeline="text-generation",
            fields=(
                *generation_fields(
                    "max_new_tokens", "num_return_sequences", "do_sample", "temperature", "top_p", "seed"
                ),
                InputField("score", "Score", "bool", False, _SCORE),
                InputField("second_model", "Beside", "text", "", _SECOND),
            ),
        ),
        TaskSpec(
            name="zero-shot-classification",
            title="Zero-shot classification",
            summary="Score labels you choose, through an NLI model.",
            model_class="AutoModelForSequenceClassification",
            default_model="facebook/bart-large-mnli",
            runner=RunnerRef("zero_shot"),
            pipeline="zero-shot-classification",
            fields=(
                InputField(
                    "candidate_labels",
                    "Labels",
                    "text",
                    "education, politics, business",
                    "Comma-separated candidate labels",
                ),
                InputField("multi_label", "Multi-label", "bool", False, "Score each label on its own"),
                InputField("hypothesis_template", "Template", "text", "This example is {}."),
            ),
        ),
        TaskSpec(
            name="conversational",
            title="Chat",
            summary="Chat over the model's chat template; replies stream, history is kept.",
            model_class="AutoModelForCausalLM",
            default_model="HuggingFaceTB/SmolLM3-3B",
            runner=RunnerRef("chat"),
            text_label="Message",
            batch=False,
            fields=(
                InputField("system", "System prompt", "text", ""),
                *generation_fields("max_new_tokens", "do_sample", "temperature"),
                InputField("score", "Score", "bool", False, _SCORE_CHAT),
                InputField("second_model", "Beside", "text", "", _SECOND),
            ),
        ),
    )
}

_ALIASES = {alias: spec.name for spec in TASKS.values() for alias in spec.aliases}


def task_names(with_aliases: bool = True) -> list[str]:
    names = list(TASKS)
    return names + sorted(_ALIASES) if with_aliases else names


def get_task(name: str) -> TaskSpec:
    key = _ALIASES.get(name, name)
    if key not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r}; choose one of: {', '.join(task_names())}")
    return TASKS[key]
