"""The code behind a result: a run of any task as two short Python scripts that reproduce it.

`code_for(spec, loaded, texts, options)` writes (a) the `pipeline(...)` call, where transformers 5 still has the
task's pipeline, and (b) the explicit path: AutoTokenizer and the task's AutoModel class, the tokenizer call with
the run's padding and truncation, `torch.no_grad()`, the forward pass and the task's post-processing (softmax,
argmax, spans, entity grouping) or `generate`, as the task's runner does it.

What goes in: the model (hub id or directory), the device and dtype it ran on, the inputs, and the settings the
user gave, only those. A value the user did not give appears only where the script would otherwise compute
something else than the app did (tui-hf's default differs from transformers', a pipeline default `generate`
does not know, a limit of this model), and then the same line says where it comes from in a comment.
Every script prints its result as JSON: the numbers `tui-hf run` prints (tests/test_code_view.py runs them).
"""

from __future__ import annotations

import copy
import io
import json
import textwrap
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.defaults import GIVEN, MODEL, PIPELINE, TASK_PARAMS, Generation
from tui_hf.core.tasks.registry import TaskSpec

TENSORFLOW = (
    "# transformers 5 has no TensorFlow or Flax classes (no TFAutoModel...): PyTorch is the only path, this one."
)
_FROM = {
    PIPELINE: "{pipeline} default",
    TASK_PARAMS: "the model's task_specific_params",
    MODEL: "the model's generation_config",
    "target language": "the target language, forced first",
}
# transformers 4.57 had these pipelines; transformers 5 removed them (tui-hf keeps their behaviour).
_REMOVED = {
    "question-answering": "5.3",
    "summarization": "5 (early 2026)",
    "translation": "5 (early 2026)",
    "text2text-generation": "5 (early 2026)",
}


@dataclass
class CodeView:
    task: str
    pipeline: str  # the pipeline call; a comment alone where transformers 5 has no pipeline for the task
    explicit: str  # tokenizer, model, forward pass and post-processing (or generate) written out
    pipeline_runs: bool = True  # False: `pipeline` is only a comment saying why there is none

    def text(self) -> str:
        """Both scripts in one file's worth of text (what Copy, Save and `tui-hf run --code` give)."""
        rule = "# " + "-" * 100
        return (
            f"{rule}\n# 1. The pipeline call\n{rule}\n{self.pipeline}\n\n"
            f"{rule}\n# 2. The explicit path\n{rule}\n{self.explicit}"
        )


def user_settings(spec: TaskSpec, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings the user gave: a field set to something other than its registry default (the app's form
    holds every field, so a value equal to the default is one nobody chose)."""
    out = {}
    for f in spec.fields:
        value = (options or {}).get(f.name)
        if value is None or value == "" or value == f.default:
            continue
        out[f.name] = value
    return out


@dataclass
class _Ctx:
    spec: TaskSpec
    loaded: LoadedModel
    texts: list[str]
    options: dict[str, Any]  # as the runner got them
    user: dict[str, Any]  # the settings the user gave
    trust_remote_code: bool

    @property
    def tok(self) -> Any:
        return self.loaded.tokenizer

    def model_lines(self) -> list[str]:
        ref = self.loaded.resolved.ref
        if ref.kind == "embedded":
            return [
                f"MODEL = {ref.location!r}  # the embedded all-MiniLM-L6-v2 (sentence-transformers/"
                "all-MiniLM-L6-v2 on the Hub)"
            ]
        where = ref.location if ref.kind == "local" else ref.name
        return [f"MODEL = {where!r}"]

    @property
    def device(self) -> str:
        return self.loaded.info.device

    @property
    def dtype(self) -> str:
        return f"torch.{self.loaded.info.dtype}"

    def remote(self) -> str:
        return ", trust_remote_code=True" if self.trust_remote_code else ""

    def pipeline_call(self, task: str, name: str) -> str:
        return f'{name} = pipeline("{task}", model=MODEL, device="{self.device}", dtype={self.dtype}{self.remote()})'

    def load_lines(self, auto_class: str) -> list[str]:
        return [
            f"tokenizer = AutoTokenizer.from_pretrained(MODEL{self.remote()})",
            f"model = {auto_class}.from_pretrained(MODEL, dtype={self.dtype}{self.remote()})"
            f'.to("{self.device}").eval()',
        ]


def code_for(
    spec: TaskSpec,
    loaded: LoadedModel,
    texts: list[str],
    options: Mapping[str, Any] | None = None,
    *,
    trust_remote_code: bool = False,
) -> CodeView:
    """The two scripts for a run of `spec` on `loaded` with these inputs and options (the runner's own)."""
    opts = dict(options or {})
    ctx = _Ctx(spec, loaded, list(texts), opts, user_settings(spec, opts), trust_remote_code)
    builder = _BUILDERS[spec.name]
    return builder(ctx)


# -- pieces every script shares ---------------------------------------------------------------------------


def _doc(ctx: _Ctx, what: str) -> str:
    return f'"""{ctx.spec.title} ({ctx.spec.name}) on {ctx.loaded.info.title}: {what}. From tui-hf\'s code view."""'


def _script(ctx: _Ctx, what: str, imports: list[str], body: list[str]) -> str:
    head = [_doc(ctx, what), TENSORFLOW, "import json", "", "import torch", *imports, "", *ctx.model_lines()]
    lines = [part for line in "\n".join(head + body).split("\n") for part in _fit(line)]
    return "\n".join(lines) + "\n"


def _pipeline_script(ctx: _Ctx, body: list[str], imports: tuple[str, ...] = ("pipeline",)) -> str:
    return _script(ctx, "the pipeline call", [f"from transformers import {', '.join(imports)}"], body)


def _explicit_script(ctx: _Ctx, auto_class: str, body: list[str], more: tuple[str, ...] = ()) -> str:
    names = ", ".join(sorted({auto_class, "AutoTokenizer", *more}))
    return _script(ctx, "the explicit path", [f"from transformers import {names}"], ctx.load_lines(auto_class) + body)


def _texts(ctx: _Ctx) -> str:
    return _assign("texts", ctx.texts)


def _assign(name: str, value: str | list[str]) -> str:
    """`name = value` for a text or a list of texts, long ones cut into pieces that Python joins back."""
    one = f"{name} = {value!r}"
    if len(one) <= WIDTH:
        return one
    if isinstance(value, str):
        return f"{name} = (\n" + "".join(f"    {piece!r}\n" for piece in _pieces(value)) + ")"
    lines = [f"{name} = ["]
    for item in value:
        if len(repr(item)) <= WIDTH - 5:
            lines.append(f"    {item!r},")
        else:
            lines += ["    (", *(f"        {piece!r}" for piece in _pieces(item)), "    ),"]
    return "\n".join(lines + ["]"])


def _pieces(text: str, width: int = 90) -> list[str]:
    """`text` in pieces of about `width` characters, cut after a space where there is one."""
    out, start = [], 0
    while start < len(text):
        end = min(start + width, len(text))
        if end < len(text):
            space = text.rfind(" ", start + 1, end)
            end = space + 1 if space > start else end
        out.append(text[start:end])
        start = end
    return out


def _dump(value: str, default_float: bool = False) -> str:
    """Print `value` as JSON (through a variable when the line would be long)."""
    extra = ", default=float" if default_float else ""
    if len(value) > 40:
        return f"result = {value}\nprint(json.dumps(result, indent=2, ensure_ascii=False{extra}))"
    return f"print(json.dumps({value}, indent=2, ensure_ascii=False{extra}))"


WIDTH = 110  # a generated line's length beyond which it is cut or its comment moved above it


def _fit(line: str) -> list[str]:
    """A long line's trailing comment moved to its own line above; a long comment wrapped."""
    if len(line) <= 120:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    if line.lstrip().startswith("#"):
        return [indent + "# " + part for part in textwrap.wrap(line.lstrip()[1:].strip(), 118 - len(indent))]
    tokens = []
    try:  # a line that opens a bracket ends in an error after its tokens, the comment among them
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            tokens.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    if comment is None:
        return [line]
    code = line[: len(indent) + comment.start[1]].rstrip()
    return _fit(indent + comment.string) + [code]


def _limit_kwargs(ctx: _Ctx) -> tuple[str, str]:
    """`truncation=True` (plus max_length when this model reads fewer tokens than its tokenizer says) and the
    comment that says why; ("", "") when nothing says how much the model reads."""
    from tui_hf.core.tasks.limits import input_limit

    limit = input_limit(ctx.loaded)
    if limit is None:
        return "", ""
    told = getattr(ctx.tok, "model_max_length", None)
    if isinstance(told, int) and told == limit:
        return "truncation=True", ""
    return f"truncation=True, max_length={limit}", f"  # the model has {limit} positions"


def _unused_inputs(ctx: _Ctx) -> list[str]:
    """Tokenizer outputs the model's forward does not take (token_type_ids from a BERT tokenizer before T5)."""
    import inspect

    accepted = inspect.signature(ctx.loaded.model.forward).parameters
    return [n for n in getattr(ctx.tok, "model_input_names", []) if n not in accepted]


def _py(value: Any) -> str:
    if isinstance(value, _Raw):
        return value.code
    return repr(value)


@dataclass(frozen=True)
class _Raw:
    """Code written as is (an expression), not as a literal."""

    code: str


def _call(head: str, fixed: list[str], pairs: list[tuple[str, Any, str]], indent: str = "") -> list[str]:
    """`head(fixed..., name=value...)`: on one line when nothing needs a comment, else one argument a line."""
    if not any(note for _, _, note in pairs):
        args = ", ".join(fixed + [f"{n}={_py(v)}" for n, v, _ in pairs])
        return [f"{indent}{head}({args})"]
    lines = [f"{indent}{head}("] + [f"{indent}    {a}," for a in fixed]
    lines += [f"{indent}    {n}={_py(v)},{'  # ' + note if note else ''}" for n, v, note in pairs]
    return lines + [f"{indent})"]


# -- feature-extraction ------------------------------------------------------------------------------------

_POOL = {
    "mean": ("hidden.mean(dim=0)", "mean pooling"),
    "cls": ("hidden[0]", "the first token's vector"),
    "max": ("hidden.max(dim=0).values", "max pooling"),
}


def _feature_extraction(ctx: _Ctx) -> CodeView:
    pooling = str(ctx.user.get("pooling", "mean"))
    normalize = ctx.user.get("normalize", True) is not False
    limit, why = _limit_kwargs(ctx)
    tokenize = (
        f"{{{', '.join(repr(p.split('=')[0]) + ': ' + p.split('=')[1] for p in limit.split(', '))}}}" if limit else ""
    )
    shown = "unit" if normalize else "pooled"
    pool, how = _POOL[pooling]
    tail = [
        "pooled = torch.stack(vectors)",
        "unit = torch.nn.functional.normalize(pooled, dim=-1)" + ("  # L2-normalized" if normalize else ""),
        "similarity = unit @ unit.T  # cosine similarity of every pair of inputs",
        _dump(
            f'{{"norm": pooled.norm(dim=-1).tolist(), "preview": {shown}[:, :8].tolist(), '
            '"similarity": similarity.tolist()}'
        ),
    ]
    if not normalize:
        tail[1] += "  # for the cosine similarity; the vectors themselves stay as pooled (normalize off)"
    pipe = [
        ctx.pipeline_call("feature-extraction", "extractor"),
        _texts(ctx),
        "vectors = []",
        "for text in texts:",
        f"    hidden = extractor(text, return_tensors=True{', tokenize_kwargs=' + tokenize if tokenize else ''})"
        f"[0].float()  # [tokens, hidden size]{why}",
        f"    vectors.append({pool})  # {how}",
        *tail,
    ]
    explicit = [
        _texts(ctx),
        "vectors = []",
        "with torch.no_grad():",
        "    for text in texts:  # one at a time: no padding, so every vector is a real token's",
        f'        inputs = tokenizer(text, {limit + ", " if limit else ""}return_tensors="pt").to(model.device){why}',
        "        hidden = model(**inputs).last_hidden_state[0].float()  # [tokens, hidden size]",
        f"        vectors.append({pool})  # {how}",
        *tail,
    ]
    return CodeView(ctx.spec.name, _pipeline_script(ctx, pipe), _explicit_script(ctx, "AutoModel", explicit))


# -- text-classification -------------------------------------------------------------------------------------


def _score_function(loaded: LoadedModel) -> str:
    """What the text-classification pipeline applies to this model's logits (its own rule)."""
    config = loaded.model.config
    if config.problem_type == "regression":
        return "none"
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def _text_classification(ctx: _Ctx) -> CodeView:
    limit, why = _limit_kwargs(ctx)
    # A sentence pair: each text read with the same second text, as the pipeline takes a pair
    pair = str(ctx.user.get("text_pair") or "").strip() or None
    given = [_assign("text_pair", pair)] if pair is not None else []
    inputs = '[{"text": t, "text_pair": text_pair} for t in texts]' if pair is not None else "texts"
    pipe = [
        ctx.pipeline_call("text-classification", "classifier"),
        _texts(ctx),
        *given,
        f"results = classifier({inputs}, top_k=None{', ' + limit if limit else ''})  # top_k=None: every label "
        f"with its score, best first{why.replace('  #', ';')}",
        _dump('[{"text": t, "labels": r} for t, r in zip(texts, results)]'),
    ]
    function = _score_function(ctx.loaded)
    probs = {
        "softmax": "probs = logits.float().softmax(dim=-1)  # each row sums to 1",
        "sigmoid": "probs = torch.sigmoid(logits.float())  # this head scores each label on its own",
        "none": "probs = logits.float()  # a regression head: the raw value is the score",
    }[function]
    explicit = [
        _texts(ctx),
        *given,
        (
            f"inputs = tokenizer(\n    texts, [text_pair] * len(texts), padding=True, {limit + ', ' if limit else ''}"
            'return_tensors="pt"\n)'
            if pair is not None
            else f'inputs = tokenizer(texts, padding=True, {limit + ", " if limit else ""}return_tensors="pt")'
        )
        + f".to(model.device){why}",
        "with torch.no_grad():",
        "    logits = model(**inputs).logits  # [inputs, labels]: raw scores",
        probs,
        "results = []",
        "for text, row in zip(texts, probs):",
        '    labels = [{"label": model.config.id2label[i], "score": float(p)} for i, p in enumerate(row)]',
        '    results.append({"text": text, "prediction": model.config.id2label[int(row.argmax())],',
        '                    "labels": sorted(labels, key=lambda x: -x["score"])})',
        _dump("results"),
    ]
    return CodeView(
        ctx.spec.name,
        _pipeline_script(ctx, pipe),
        _explicit_script(ctx, "AutoModelForSequenceClassification", explicit),
    )


# -- token-classification ------------------------------------------------------------------------------------

_GROUP = [
    "    # adjacent tokens of one entity type merge (a B- tag starts a new entity); the score is their mean",
    "    entities = []",
    "    for item in found:",
    '        label = item["entity"]',
    '        begins = label.startswith("B-")',
    '        kind = label[2:] if label[:2] in ("B-", "I-") else label',
    '        if entities and entities[-1]["kind"] == kind and not begins:',
    '            entities[-1]["parts"].append(item)',
    "        else:",
    '            entities.append({"kind": kind, "group": label.split("-", 1)[-1], "parts": [item]})',
    '    results.append([{"entity_group": e["group"], "score": sum(p["score"] for p in e["parts"]) / len(e["parts"]),',
    '                     "word": tokenizer.convert_tokens_to_string([p["word"] for p in e["parts"]]),',
    '                     "start": e["parts"][0]["start"], "end": e["parts"][-1]["end"]}',
    '                    for e in entities if e["group"] != "O"])',
]
_WORD_SCORES = {
    "first": 'parts[0]["probs"]  # the word\'s first sub-word token decides',
    "max": 'max(parts, key=lambda p: p["probs"].max())["probs"]  # its most confident sub-word token decides',
    "average": 'torch.stack([p["probs"] for p in parts]).mean(dim=0)  # the mean over its sub-word tokens',
}


def _token_classification(ctx: _Ctx) -> CodeView:
    strategy = str(ctx.options.get("aggregation_strategy") or "simple")
    given = "aggregation_strategy" in ctx.user
    note = "" if given else "  # tui-hf's default; the pipeline's own is \"none\""
    pipe = [
        ctx.pipeline_call("token-classification", "ner"),
        _texts(ctx),
        f"results = [ner(text, aggregation_strategy={strategy!r}) for text in texts]{note}",
        _dump("results", default_float=True) + "  # scores are numpy floats",
    ]
    limit, why = _limit_kwargs(ctx)
    explicit = [
        _texts(ctx),
        "id2label = model.config.id2label",
        "results = []",
        "for text in texts:",
        f"    inputs = tokenizer(text, {limit + ', ' if limit else ''}return_offsets_mapping=True,{why}",
        '                       return_special_tokens_mask=True, return_tensors="pt")',
        '    offsets = inputs.pop("offset_mapping")[0].tolist()  # each token\'s characters in the text',
        '    special = inputs.pop("special_tokens_mask")[0].tolist()',
        "    with torch.no_grad():",
        "        logits = model(**inputs.to(model.device)).logits[0]  # [tokens, labels]",
        "    probs = logits.float().softmax(dim=-1)",
        '    ids = inputs["input_ids"][0].tolist()',
        *(["    words = inputs.word_ids()  # which word each token belongs to"] if strategy in _WORD_SCORES else []),
        "    found = []  # one per token, special tokens skipped: its best label (argmax) and probability",
        "    for i, (token, row, (start, end)) in enumerate(zip(tokenizer.convert_ids_to_tokens(ids), probs, "
        "offsets)):",
        "        if special[i]:",
        "            continue",
        "        word = text[start:end] if ids[i] == tokenizer.unk_token_id else token",
        '        found.append({"entity": id2label[int(row.argmax())], "score": float(row.max()), '
        '"index": i, "word": word,',
        '                      "start": start, "end": end'
        + (', "probs": row, "word_id": words[i]})' if strategy in _WORD_SCORES else "})"),
    ]
    if strategy == "none":
        explicit += [
            '    # aggregation "none": every token whose label is not O is an entity of its own',
            '    results.append([f for f in found if f["entity"] != "O"])',
        ]
    else:
        if strategy in _WORD_SCORES:
            explicit += [
                f"    # aggregation {strategy!r}: a word's sub-word tokens (the tokenizer's word ids; the pipeline "
                "goes by the '##' prefix, the same words for WordPiece) take one label",
                "    grouped = []",
                "    for item in found:",
                '        if grouped and item["word_id"] is not None and grouped[-1][-1]["word_id"] == item["word_id"]:',
                "            grouped[-1].append(item)",
                "        else:",
                "            grouped.append([item])",
                "    found = []",
                "    for parts in grouped:",
                f"        row = {_WORD_SCORES[strategy]}",
                '        found.append({"entity": id2label[int(row.argmax())], "score": float(row.max()),',
                '                      "word": tokenizer.convert_tokens_to_string([p["word"] for p in parts]),',
                '                      "start": parts[0]["start"], "end": parts[-1]["end"]})',
            ]
        explicit += _GROUP
    explicit.append(_dump("results"))
    return CodeView(
        ctx.spec.name, _pipeline_script(ctx, pipe), _explicit_script(ctx, "AutoModelForTokenClassification", explicit)
    )


# -- question-answering --------------------------------------------------------------------------------------


def _no_pipeline(ctx: _Ctx, what: str = "") -> str:
    since = _REMOVED.get(ctx.spec.name, "")
    return (
        f"# transformers 5 has no {ctx.spec.name} pipeline (removed in {since}); tui-hf keeps transformers 4.57's "
        f"behaviour{what}: the explicit path below is the code.\n"
    )


def _question_answering(ctx: _Ctx) -> CodeView:
    from tui_hf.core.tasks.qa import MASKED, settings

    tok = ctx.tok
    cfg = settings(ctx.options, tok, ctx.loaded.info.max_positions)
    question = " ".join(t.strip() for t in ctx.texts if t.strip())
    context = str(ctx.options.get("context") or "")
    first = tok.padding_side != "left"
    pair = "question, context" if first else "context, question"
    u = ctx.user
    top_k = f"TOP_K = {cfg.top_k}" + ("" if "top_k" in u else "  # transformers 4's default: the best answer")
    longest = f"MAX_ANSWER_TOKENS = {cfg.max_answer_len}" + (
        "" if "max_answer_len" in u else "  # transformers 4's default"
    )
    sizes = (
        [] if "max_seq_len" in u else ["a window is the tokenizer's limit, at most 384, within the model's positions"]
    )
    sizes += [] if "doc_stride" in u else ["the stride half a window, at most 128 (transformers 4)"]
    keep = "[s == 1 for s in enc.sequence_ids(w)]" if first else '[True] * enc["input_ids"].shape[1]'
    body = [
        _assign("question", question),
        _assign("context", context),
        top_k,
        longest,
        f"WINDOW, STRIDE = {cfg.max_seq_len}, {cfg.doc_stride}" + ("  # " + "; ".join(sizes) if sizes else ""),
        f"# a long context is cut into windows of WINDOW tokens ({pair}) that overlap by STRIDE",
        f'enc = tokenizer({pair}, truncation="only_{"second" if first else "first"}", max_length=WINDOW, '
        "stride=STRIDE,",
        "                return_overflowing_tokens=True, return_offsets_mapping=True, padding=True, "
        'return_tensors="pt")',
        'offsets = enc.pop("offset_mapping")',
        'enc.pop("overflow_to_sample_mapping")',
        "with torch.no_grad():",
        "    out = model(**{k: v.to(model.device) for k, v in enc.items()})  # start_logits, end_logits per token",
        "answers = {}  # by text, ignoring case: the same answer from two windows or spans adds up",
        "null = 1.0" if cfg.handle_impossible_answer else "",
        'for w in range(enc["input_ids"].shape[0]):',
        f'    keep = torch.tensor({keep}) & enc["attention_mask"][w].bool()  # '
        + ("context tokens" if first else "this tokenizer puts the context first: every real token"),
    ]
    if tok.cls_token_id is not None:
        body.append('    keep |= enc["input_ids"][w] == tokenizer.cls_token_id  # [CLS] takes part in the softmax')
    body += [
        f"    p_start = torch.where(keep, out.start_logits[w].float().cpu(), {MASKED}).softmax(-1)",
        f"    p_end = torch.where(keep, out.end_logits[w].float().cpu(), {MASKED}).softmax(-1)",
    ]
    if cfg.handle_impossible_answer:
        body.append("    null = min(null, float(p_start[0] * p_end[0]))  # the no-answer score: [CLS] as start and end")
    wanted = "TOP_K * 2 + 10" if cfg.align_to_words else "TOP_K"
    body += [
        "    p_start[0] = p_end[0] = 0.0  # ... and is never picked",
        "    scores = torch.outer(p_start, p_end).triu().tril(MAX_ANSWER_TOKENS - 1).flatten()  # start <= end, "
        "not too long",
        f"    for index in scores.topk(min({wanted}, scores.numel())).indices.tolist():"
        + ("  # extra candidates: widening to words merges some" if cfg.align_to_words else ""),
        "        s, e = divmod(index, len(p_start))",
        "        if not (keep[s] or s == 0) or not (keep[e] or e == 0):  # context only (position 0 passes, "
        "as in transformers 4)",
        "            continue",
    ]
    seq = 1 if first else 0
    if cfg.align_to_words:
        body += [
            "        ws, we = enc.token_to_word(w, s), enc.token_to_word(w, e)",
            "        if ws is not None and we is not None:  # widened to whole words"
            + ("" if "align_to_words" in u else " (transformers 4's default)"),
            f"            start, end = enc.word_to_chars(w, ws, {seq}).start, enc.word_to_chars(w, we, {seq}).end",
            "        else:",
            "            start, end = int(offsets[w, s, 0]), int(offsets[w, e, 1])",
        ]
    else:
        body.append("        start, end = int(offsets[w, s, 0]), int(offsets[w, e, 1])  # the tokens' own characters")
    body += [
        "        text = context[start:end]",
        "        if text.lower() in answers:",
        '            answers[text.lower()]["score"] += float(scores[index])',
        "        else:",
        '            answers[text.lower()] = {"answer": text, "score": float(scores[index]), '
        '"start": start, "end": end}',
        "ranked = list(answers.values())",
    ]
    if cfg.handle_impossible_answer:
        body.append(
            'ranked.append({"answer": "", "score": null, "start": 0, "end": 0})  # no answer, when it beats every span'
        )
    body += ['ranked.sort(key=lambda a: -a["score"])', _dump("ranked[:TOP_K]")]
    body = [line for line in body if line != ""]
    return CodeView(
        ctx.spec.name,
        _no_pipeline(ctx, " (its windows, masks and span rules)"),
        _explicit_script(ctx, "AutoModelForQuestionAnswering", body),
        pipeline_runs=False,
    )


# -- fill-mask ----------------------------------------------------------------------------------------------


def _fill_mask(ctx: _Ctx) -> CodeView:
    top_k = ctx.user.get("top_k")
    pipe = [
        ctx.pipeline_call("fill-mask", "unmasker"),
        _texts(ctx),
        f"results = [unmasker(text{f', top_k={int(top_k)}' if top_k is not None else ''}) for text in texts]"
        "  # one list per mask, best first",
        _dump("results"),
    ]
    k = int(top_k) if top_k is not None else 5
    explicit = [
        _texts(ctx),
        "results = []",
        "for text in texts:",
        '    inputs = tokenizer(text, return_tensors="pt").to(model.device)',
        "    with torch.no_grad():",
        "        logits = model(**inputs).logits[0]  # [tokens, vocabulary]",
        '    ids = inputs["input_ids"][0]',
        "    masks = (ids == tokenizer.mask_token_id).nonzero().flatten().tolist()",
        "    found = []",
        "    for position in masks:",
        "        probs = logits[position].float().softmax(dim=-1)",
        f"        values, top = probs.topk({k}){'' if top_k is not None else '  # the pipeline keeps 5'}",
        "        candidates = []",
        "        for value, token in zip(values.tolist(), top.tolist()):",
        "            filled = ids.clone()",
        "            filled[position] = token",
        '            candidates.append({"score": value, "token": token, "token_str": tokenizer.decode([token]),',
        '                               "sequence": tokenizer.decode(filled, skip_special_tokens=len(masks) == 1)})',
        "        found.append(candidates)",
        "    results.append(found[0] if len(found) == 1 else found)",
        _dump("results"),
    ]
    return CodeView(ctx.spec.name, _pipeline_script(ctx, pipe), _explicit_script(ctx, "AutoModelForMaskedLM", explicit))


# -- generation settings ----------------------------------------------------------------------------------


def _generation_pairs(ctx: _Ctx, generation: Generation, cut: str = "") -> list[tuple[str, Any, str]]:
    """What `generate` needs besides the model's own generation_config to do what the run did: every value that
    differs from the model's, each with where it comes from unless the user gave it."""
    from transformers import GenerationConfig

    model_cfg = getattr(ctx.loaded.model, "generation_config", None) or GenerationConfig()
    config = generation.config
    keys = [k for k in generation.sources if not k.endswith("token_id") or k == "forced_bos_token_id"]
    for extra in ("max_new_tokens", "min_length"):
        if extra not in keys:
            keys.append(extra)
    library = GenerationConfig._get_default_generation_params()
    pairs = []
    for key in keys:
        value, own = getattr(config, key, None), getattr(model_cfg, key, None)
        source = generation.sources.get(key, "")
        # unset is the library's value, on either side; what the user gave is written even where it changes nothing
        same = value == own or value is None and own == library.get(key) or own is None and value == library.get(key)
        if same and not (source == GIVEN and value is not None):
            continue
        if value is None:
            if key == "min_length" and own:  # the user's minimum in new tokens replaces the model's total one
                pairs.append(("min_length", 0, "min_new_tokens replaces the model's min_length"))
            continue
        if key == "max_new_tokens" and cut:
            note = cut
        elif source == GIVEN:
            note = ""
        else:
            pipeline = (
                "the text-generation pipeline's"
                if ctx.spec.name in ("text-generation", "conversational")
                else f"transformers 4's {ctx.spec.name} pipeline"
            )
            note = _FROM.get(source, "tui-hf").format(pipeline=pipeline)
        pairs.append((key, value, note))
    return pairs


# -- summarization, translation, text2text-generation --------------------------------------------------------


def _seq2seq(ctx: _Ctx) -> CodeView:
    from tui_hf.core.tasks.defaults import seq2seq_generation, task_params
    from tui_hf.core.tasks.seq2seq import _cap_new_tokens, _config_prefix

    spec, loaded = ctx.spec, ctx.loaded
    plan = None
    if spec.name == "translation":
        from tui_hf.core.tasks.translation import plan_translation

        plan = plan_translation(loaded, ctx.options)
        generation = plan.generation
        prefix = plan.prefix if plan.prefix or plan.forced_token else _config_prefix(loaded)
        prefix_note = {
            "t5 prefix": "how T5 is asked for a language pair",
            "marian multi-target": "the target language's token",
        }.get(plan.family, "the model's prefix")
    else:
        generation = seq2seq_generation(spec, loaded, spec.name, ctx.options)
        prefix = str(task_params(loaded, spec.name).get("prefix", "") or _config_prefix(loaded))
        prefix_note = "the model's prefix for the task (task_specific_params)"
    generation = Generation(copy.deepcopy(generation.config), generation.settings, dict(generation.sources))
    warnings: list[str] = []
    _cap_new_tokens(loaded, generation, warnings)
    cut = "cut to the decoder's positions (it asked for more)" if warnings else ""
    limit, why = _limit_kwargs(ctx)
    padding = "padding=True, " if len(ctx.texts) > 1 else ""
    source = f"[{prefix!r} + text for text in texts]" if prefix else "texts"
    body = [_texts(ctx)]
    if prefix:
        body.append(f"# every input starts with {prefix!r}: {prefix_note}")
    if plan is not None and plan.forced_token:
        body.append(
            f"tokenizer.src_lang = {plan.src_lang!r}  # the source language's code"
            + ("" if "src_lang" in ctx.user else " (the model's own, or English)")
        )
    body.append(
        f'inputs = tokenizer({source}, {padding}{limit + ", " if limit else ""}return_tensors="pt")'
        f".to(model.device){why}"
    )
    for name in _unused_inputs(ctx):
        body.append(f"inputs.pop({name!r}, None)  # the model takes no {name}")
    pairs = _generation_pairs(ctx, generation, cut)
    if plan is not None and plan.forced_token:
        pairs = [
            (k, _Raw(f"tokenizer.convert_tokens_to_ids({plan.forced_token!r})") if k == "forced_bos_token_id" else v, n)
            for k, v, n in pairs
        ]
    body += [
        "# generate starts from the model's own settings (model.generation_config); the run's others:",
        "with torch.no_grad():",
        *_call("outputs = model.generate", ["**inputs"], pairs, "    "),
        "# as the transformers 4 pipelines decoded: special tokens dropped, spaces left as they are",
        _dump("tokenizer.batch_decode(outputs, skip_special_tokens=True, clean_up_tokenization_spaces=False)"),
    ]
    what = " (its defaults: 4 beams, 256 new tokens, then the model's own settings)"
    return CodeView(
        spec.name, _no_pipeline(ctx, what), _explicit_script(ctx, "AutoModelForSeq2SeqLM", body), pipeline_runs=False
    )


# -- text-generation, conversational ------------------------------------------------------------------------


def _causal_generation(ctx: _Ctx, prompt_ids: list[int]) -> tuple[Generation, str]:
    from tui_hf.core.generation.settings import fit_to_context, generation_settings

    generation = generation_settings(ctx.loaded, ctx.options, ctx.spec.name)
    generation = Generation(copy.deepcopy(generation.config), generation.settings, dict(generation.sources))
    warnings: list[str] = []
    fit_to_context(ctx.loaded, len(prompt_ids), generation, warnings)
    return generation, ("cut to the model's positions (prompt + new tokens)" if warnings else "")


def _seed_lines(ctx: _Ctx, generation: Generation, indent: str = "") -> list[str]:
    if not generation.config.do_sample:
        return []
    seed = int(ctx.options.get("seed") or 0)
    note = "" if "seed" in ctx.user else "  # tui-hf seeds every run (Seed 0 unless set): the same draw each time"
    return [f"{indent}set_seed({seed}){note}"]


def _pipeline_pairs(ctx: _Ctx, pairs: list[tuple[str, Any, str]]) -> list[tuple[str, Any, str]]:
    """The pipeline applies its own defaults and the model's: only what the user gave (or a cut) goes to it."""
    return [(k, v, n) for k, v, n in pairs if not n or n.startswith("cut")]


def _text_generation(ctx: _Ctx) -> CodeView:
    prompt = "\n".join(ctx.texts).strip("\n")
    if ctx.options.get("score"):
        return _scoring(ctx, prompt)
    prompt_ids = list(ctx.tok(prompt)["input_ids"])
    generation, cut = _causal_generation(ctx, prompt_ids)
    pairs = _generation_pairs(ctx, generation, cut)
    n = max(int(ctx.options.get("num_return_sequences") or 1), 1)
    seed = int(ctx.options.get("seed") or 0)
    beside = _beside(ctx)
    call = _call("generator", ["prompt", "return_full_text=False"], _pipeline_pairs(ctx, pairs))
    pipe = [ctx.pipeline_call("text-generation", "generator"), _assign("prompt", prompt)]
    if n > 1:
        pipe += [
            "sequences = []",
            f"for i in range({n}):  # one sequence at a time, each from its own seed (as tui-hf streams them)",
            f"    set_seed({seed} + i)",
            *_indent(call, "    ", "sequences.append(", '[0]["generated_text"])'),
        ]
    else:
        pipe += _seed_lines(ctx, generation) + _indent(call, "", "sequences = [", '[0]["generated_text"]]')
    pipe.append(_dump("sequences"))
    generate = _call("out = model.generate", ["**inputs"], pairs, "    " if n == 1 else "        ")
    explicit = [_assign("prompt", prompt), 'inputs = tokenizer(prompt, return_tensors="pt").to(model.device)']
    for name in _unused_inputs(ctx):
        explicit.append(f"inputs.pop({name!r}, None)  # the model takes no {name}")
    decode = 'tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)'
    if n > 1:
        explicit += [
            "sequences = []",
            f"for i in range({n}):",
            f"    set_seed({seed} + i)",
            "    with torch.no_grad():",
            *generate,
            f"    sequences.append({decode})",
        ]
    else:
        explicit += _seed_lines(ctx, generation) + [
            "with torch.no_grad():",
            *generate,
            f"sequences = [{decode}]  # the new tokens",
        ]
    explicit.append(_dump("sequences"))
    more = ("set_seed",) if generation.config.do_sample else ()
    return CodeView(
        ctx.spec.name,
        beside + _pipeline_script(ctx, pipe, ("pipeline", *more)),
        beside + _explicit_script(ctx, "AutoModelForCausalLM", explicit, more),
    )


def _beside(ctx: _Ctx) -> str:
    second = str(ctx.options.get("second_model") or "").strip()
    return (
        (
            f"# the second model ({second}) ran the same prompt with the same settings: set MODEL to it and run "
            "this again\n"
        )
        if second
        else ""
    )


def _indent(lines: list[str], indent: str, before: str, after: str) -> list[str]:
    """`lines` (a call) wrapped as `before<call>after`, indented."""
    out = [indent + line for line in lines]
    out[0] = indent + before + lines[0]
    out[-1] = out[-1] + after
    return out


def _scoring(ctx: _Ctx, text: str) -> CodeView:
    body = [
        _assign("text", text),
        'inputs = tokenizer(text, return_tensors="pt").to(model.device)',
        'ids = inputs["input_ids"][0]',
        "with torch.no_grad():",
        '    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[0]',
        "# teacher forcing: position p predicts token p + 1 (the first token has nothing before it)",
        "logprobs = logits[:-1].float().log_softmax(dim=-1).gather(-1, ids[1:, None])[:, 0]",
        "nll = float(-logprobs.mean())",
        "perplexity = float(torch.tensor(nll).exp())  # exp(mean negative log-likelihood)",
        "total = float(logprobs.sum())",
        _dump('{"tokens_scored": len(logprobs), "mean_nll": nll, "perplexity": perplexity, "total_logprob": total}'),
    ]
    return CodeView(
        ctx.spec.name,
        "# no pipeline scores a given text: the explicit path below is the code.\n",
        _explicit_script(ctx, "AutoModelForCausalLM", body),
        pipeline_runs=False,
    )


def _conversational(ctx: _Ctx) -> CodeView:
    from tui_hf.core.tasks.chat import conversation

    if ctx.options.get("score"):
        note = (
            "# scoring a chat's replies (through the chat template, the replies' tokens only) has no code view "
            "yet; turn Score off to see the code of a reply.\n"
        )
        return CodeView(ctx.spec.name, note, note, pipeline_runs=False)
    history = [dict(m) for m in ctx.options.get("history") or []]
    messages = conversation(history, str(ctx.options.get("system") or ""), ctx.texts, score=False)
    enc = ctx.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    generation, cut = _causal_generation(ctx, list(enc["input_ids"]))
    pairs = _generation_pairs(ctx, generation, cut)
    sampling = bool(generation.config.do_sample)
    sample_note = ["# sampling: each run draws other tokens (tui-hf does not seed a chat)"] if sampling else []
    messages_line = "messages = [\n" + "".join(f"    {json.dumps(m, ensure_ascii=False)},\n" for m in messages) + "]"
    pipe = [
        "# transformers 5 has no conversational pipeline (removed in 4.42): text-generation takes the messages "
        "and applies the model's chat template",
        ctx.pipeline_call("text-generation", "chat"),
        messages_line,
        *sample_note,
        *_indent(_call("chat", ["messages"], _pipeline_pairs(ctx, pairs)), "", "out = ", ""),
        'reply = out[0]["generated_text"][-1]["content"].strip()  # the new assistant message',
        _dump("reply"),
    ]
    explicit = [
        messages_line,
        "# the model's chat template renders the conversation; add_generation_prompt opens the reply",
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,",
        '                                       return_tensors="pt").to(model.device)',
    ]
    for name in _unused_inputs(ctx):
        explicit.append(f"inputs.pop({name!r}, None)  # the model takes no {name}")
    explicit += [
        *sample_note,
        "with torch.no_grad():",
        *_call("out = model.generate", ["**inputs"], pairs, "    "),
        'reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()',
        _dump("reply"),
    ]
    beside = _beside(ctx).replace("prompt", "conversation")
    return CodeView(
        ctx.spec.name,
        beside + _pipeline_script(ctx, pipe),
        beside + _explicit_script(ctx, "AutoModelForCausalLM", explicit),
    )


# -- zero-shot-classification --------------------------------------------------------------------------------


def _zero_shot(ctx: _Ctx) -> CodeView:
    from tui_hf.core.tasks.zero_shot import parse_labels

    labels = parse_labels(ctx.options.get("candidate_labels") or "education, politics, business")
    template = str(ctx.options.get("hypothesis_template") or "This example is {}.")
    multi = bool(ctx.options.get("multi_label"))
    extra = (f", multi_label={multi}" if "multi_label" in ctx.user else "") + (
        f", hypothesis_template={template!r}" if "hypothesis_template" in ctx.user else ""
    )
    pipe = [
        ctx.pipeline_call("zero-shot-classification", "classifier"),
        _texts(ctx),
        f"labels = {labels!r}",
        f"results = [classifier(text, candidate_labels=labels{extra})"
        + ("\n           for text in texts]" if extra else " for text in texts]"),
        _dump("results"),
    ]
    own = multi or len(labels) == 1
    scores = (
        [
            "        # each label on its own: entailment against contradiction"
            + (" (a single label is scored so too)" if not multi else ""),
            "        contradiction = -1 if entailment == 0 else 0",
            "        scores = logits[:, [contradiction, entailment]].softmax(dim=-1)[:, 1]",
        ]
        if own
        else ["        scores = logits[:, entailment].softmax(dim=-1)  # the labels compete: the scores sum to 1"]
    )
    template_line = f"template = {template!r}" + (
        "" if "hypothesis_template" in ctx.user else "  # the pipeline's hypothesis"
    )
    explicit = [
        _texts(ctx),
        f"labels = {labels!r}",
        template_line,
        "# the NLI class that means 'entailment', as the pipeline finds it",
        'entailment = next(i for name, i in model.config.label2id.items() if name.lower().startswith("entail"))',
        "results = []",
        "with torch.no_grad():",
        "    for text in texts:",
        "        # one (text, hypothesis) pair per label; the text is cut if the pair is too long",
        "        rows = []",
        "        for label in labels:",
        '            inputs = tokenizer(text, template.format(label), truncation="only_first", return_tensors="pt")',
        "            rows.append(model(**inputs.to(model.device)).logits[0])",
        "        logits = torch.stack(rows).float()  # [labels, NLI classes]",
        *scores,
        "        ranked = sorted(zip(labels, scores.tolist()), key=lambda x: -x[1])",
        '        results.append({"sequence": text, "labels": [label for label, _ in ranked], '
        '"scores": [s for _, s in ranked]})',
        _dump("results"),
    ]
    return CodeView(
        ctx.spec.name,
        _pipeline_script(ctx, pipe),
        _explicit_script(ctx, "AutoModelForSequenceClassification", explicit),
    )


_BUILDERS = {
    "feature-extraction": _feature_extraction,
    "text-classification": _text_classification,
    "token-classification": _token_classification,
    "question-answering": _question_answering,
    "fill-mask": _fill_mask,
    "summarization": _seq2seq,
    "translation": _seq2seq,
    "text2text-generation": _seq2seq,
    "text-generation": _text_generation,
    "zero-shot-classification": _zero_shot,
    "conversational": _conversational,
}
