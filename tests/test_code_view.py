"""The code view: every task's run as two Python scripts (the pipeline call, the explicit path) that print what
`tui-hf run` printed, and training runs exported as a standalone script that trains as the job did.

The scripts are run for real, in a subprocess that never imports tui_hf, against the tiny models of conftest.py:
one interpreter runs every script of a test (runpy, each with its own globals), so torch and transformers are
imported once.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tui_hf.cli import main
from tui_hf.core.tasks.registry import TASKS

# Runs each script given as NAME=PATH with its own globals and stdout; prints {NAME: {"out": ..., "error": ...}}.
HARNESS = r"""
import contextlib, io, json, runpy, sys, traceback
done = {}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    out = io.StringIO()
    error = ""
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
    except BaseException:
        error = traceback.format_exc()
    done[name] = {"out": out.getvalue(), "error": error, "tui_hf": "tui_hf" in sys.modules}
sys.stdout.write(json.dumps(done))
"""


IMPORTS_TUI_HF = re.compile(r"^\s*(import|from)\s+tui_hf", re.M)


class Failed(str):
    """What a script that failed left instead of its JSON: its traceback (checked by the test of its case)."""


def run_scripts(scripts: dict[str, str], tmp_path: Path, timeout: float = 300) -> dict[str, Any]:
    """Each script's printed JSON (the last document it printed), or a Failed with why; one fresh interpreter."""
    args = []
    for name, text in scripts.items():
        assert not IMPORTS_TUI_HF.search(text), f"{name} imports tui-hf"
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        args.append(f"{name}={path}")
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = json.loads(proc.stdout)
    out = {}
    for name, got in done.items():
        assert not got["tui_hf"]
        try:
            out[name] = Failed(f"{got['error']}\n{scripts[name]}") if got["error"] else last_json(got["out"])
        except AssertionError as exc:
            out[name] = Failed(str(exc))
    return out


def printed_ok(printed: Any) -> Any:
    assert not isinstance(printed, Failed), f"the script failed:\n{printed}"
    return printed


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def last_json(text: str) -> Any:
    """The JSON document a script printed last (a model's load report may come before it)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line[:1] in '[{"':
            try:
                return json.loads("".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON in:\n{text[-2000:]}")


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() if code == 0 else err.getvalue()


def run_and_code(task: str, model: Path | str, texts: list[str], settings: dict[str, Any]) -> tuple[Any, Any]:
    """What `tui-hf run` printed, and the code view of the same run."""
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks.code import code_for
    from tui_hf.core.tasks.registry import get_task

    argv = ["run", task, "--model", str(model), "--device", "cpu", *texts]
    for k, v in settings.items():
        argv += ["-s", f"{k}={v}"]
    code, out = cli(*argv)
    assert code == 0, out
    result = json.loads(out)["result"]
    spec = get_task(task)
    from tui_hf.cli.inference import parse_settings

    options = parse_settings([f"{k}={v}" for k, v in settings.items()], spec)
    loaded = load(resolve(parse_ref(str(model))), spec, "cpu")
    return result, code_for(spec, loaded, texts, options)


# -- each task: the app's answer, and what each script printed, in one shape ----------------------------------


def close(a: float, b: float, tol: float = 1e-5) -> bool:
    return abs(a - b) <= tol


def same_labels(app: list[dict[str, Any]], script: list[dict[str, Any]]) -> None:
    assert [x["label"] for x in app] == [x["label"] for x in script]
    assert all(close(x["score"], y["score"]) for x, y in zip(app, script)), (app, script)


def check(task: str, app: Any, script: Any, texts: list[str]) -> None:
    if task == "feature-extraction":
        assert len(script["similarity"]) == len(texts)
        for row_app, row in zip(app["similarity"], script["similarity"]):
            assert all(close(a, b) for a, b in zip(row_app, row))
        for item, norm, preview in zip(app["items"], script["norm"], script["preview"]):
            assert close(item["norm"], norm, 1e-4) and all(close(a, b) for a, b in zip(item["preview"], preview))
    elif task == "text-classification":
        assert len(script) == len(texts)
        for item, got in zip(app["items"], script):
            same_labels(item["labels"], got["labels"])
    elif task == "zero-shot-classification":
        assert len(script) == len(texts)
        for item, got in zip(app["items"], script):
            same_labels(item["labels"], [{"label": lb, "score": s} for lb, s in zip(got["labels"], got["scores"])])
    elif task == "token-classification":
        assert len(script) == len(texts)
        for item, got in zip(app["items"], script):
            want = [(e["type"], e["word"], e["start"], e["end"]) for e in item["entities"]]
            assert want == [(e.get("entity_group") or e["entity"], e["word"], e["start"], e["end"]) for e in got]
            assert all(close(e["score"], g["score"]) for e, g in zip(item["entities"], got))
            assert want, "no entity to compare: pick a text the tiny model tags"
    elif task == "question-answering":
        assert [(a["text"], a["start"], a["end"]) for a in app["answers"]] == [
            (a["answer"], a["start"], a["end"]) for a in script
        ]
        assert all(close(a["score"], b["score"]) for a, b in zip(app["answers"], script))
    elif task == "fill-mask":
        assert len(script) == len(texts)
        for item, got in zip(app["items"], script):
            groups = got if got and isinstance(got[0], list) else [got]
            assert len(groups) == len(item["masks"])
            for cands, group in zip(item["masks"], groups):
                assert [(c["token_id"], c["token"], c["sequence"]) for c in cands] == [
                    (g["token"], g["token_str"], g["sequence"]) for g in group
                ]
                assert all(close(c["score"], g["score"]) for c, g in zip(cands, group))
    elif task in ("summarization", "translation", "text2text-generation"):
        assert [i["output"] for i in app["items"]] == script
    elif task == "text-generation" and "perplexity" in app:
        assert app["tokens"] == script["tokens_scored"]
        assert close(app["perplexity"], script["perplexity"], 1e-4 * app["perplexity"])
        assert close(app["total_logprob"], script["total_logprob"], 1e-4)
    elif task == "text-generation":
        assert app["sequences"] == script
    elif task == "conversational":
        assert app["messages"][-1]["content"] == script
    else:
        raise AssertionError(f"no check for {task}")


# (test id, task, fixture, texts, settings)
CASES = [
    (
        "embed",
        "feature-extraction",
        "minilm_dir",
        ["A cat sat on the mat.", "A dog lay on the rug.", "Stocks fell."],
        {},
    ),
    (
        "embed-cls",
        "feature-extraction",
        "minilm_dir",
        ["A cat sat.", "Stocks fell sharply today."],
        {"pooling": "cls", "normalize": "false"},
    ),
    ("classify", "text-classification", "tiny_bert_cls_dir", ["I loved it", "A dull, slow film that never ends."], {}),
    ("ner", "token-classification", "tiny_ner_dir", ["Sylvain lives in Brooklyn with Anna", "Paris is big"], {}),
    (
        "ner-first",
        "token-classification",
        "tiny_ner_dir",
        ["Sylvain lives in Brooklyn"],
        {"aggregation_strategy": "first"},
    ),
    (
        "ner-none",
        "token-classification",
        "tiny_ner_dir",
        ["Sylvain lives in Brooklyn"],
        {"aggregation_strategy": "none"},
    ),
    (
        "qa",
        "question-answering",
        "tiny_qa_dir",
        ["Where does Sylvain live?"],
        {"context": " ".join(["Sylvain lives in Brooklyn and works at Hugging Face as an engineer."] * 20), "top_k": 3},
    ),
    (
        "qa-default",
        "question-answering",
        "tiny_qa_dir",
        ["Who works here?"],
        {"context": "Anna works here in Paris, and Sylvain works in Brooklyn."},
    ),
    ("fill", "fill-mask", "tiny_mlm_dir", ["Paris is the [MASK] of France.", "The [MASK] sat on the [MASK]."], {}),
    ("fill-k", "fill-mask", "tiny_mlm_dir", ["Paris is the [MASK] of France."], {"top_k": 2}),
    (
        "summarize-t5",
        "summarization",
        "tiny_t5_dir",
        ["The quick brown fox jumps over the lazy dog."],
        {"max_new_tokens": 10},
    ),
    (
        "summarize-bart",
        "summarization",
        "tiny_bart_dir",
        ["The quick brown fox jumps over the lazy dog.", "Tokenizers split text into tokens."],
        {},
    ),
    (
        "translate-t5",
        "translation",
        "tiny_t5_dir",
        ["The quick brown fox."],
        {"src_lang": "en", "tgt_lang": "de", "max_new_tokens": 6},
    ),
    (
        "translate-mbart",
        "translation",
        "tiny_mbart50_dir",
        ["The quick brown fox."],
        {"src_lang": "English", "tgt_lang": "fr", "max_new_tokens": 6},
    ),
    (
        "translate-nllb",
        "translation",
        "tiny_nllb_dir",
        ["The quick brown fox."],
        {"tgt_lang": "fra_Latn", "max_new_tokens": 5, "num_beams": 2},
    ),
    ("text2text", "text2text-generation", "tiny_t5_dir", ["question: what is this?"], {"max_new_tokens": 7}),
    ("generate", "text-generation", "tiny_gpt2_dir", ["The quick brown"], {"max_new_tokens": 8, "do_sample": "false"}),
    (
        "generate-sampled",
        "text-generation",
        "tiny_gpt2_dir",
        ["The quick brown"],
        {"max_new_tokens": 8, "num_return_sequences": 2, "do_sample": "true", "seed": 3},
    ),
    ("score", "text-generation", "tiny_gpt2_dir", ["The quick brown fox jumps"], {"score": "true"}),
    (
        "zero-shot",
        "zero-shot-classification",
        "tiny_nli_dir",
        ["The team won the match", "Taxes rise again"],
        {"candidate_labels": "sports, politics, cooking"},
    ),
    (
        "zero-shot-multi",
        "zero-shot-classification",
        "tiny_nli_dir",
        ["The team won the match"],
        {"candidate_labels": "sports, politics", "multi_label": "true", "hypothesis_template": "It is about {}."},
    ),
    (
        "chat",
        "conversational",
        "tiny_chat_dir",
        ["Hello there"],
        {"system": "Be brief.", "max_new_tokens": 6, "do_sample": "false"},
    ),
]


def test_every_task_has_a_case() -> None:
    assert {task for _, task, *_ in CASES} == set(TASKS)


@pytest.fixture(scope="module")
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case: the app's result, its code view, and what each of its scripts printed (one subprocess)."""
    tmp = tmp_path_factory.mktemp("code-view")
    cases, scripts = {}, {}
    for case_id, task, fixture, texts, settings in CASES:
        model = request.getfixturevalue(fixture)
        app, view = run_and_code(task, model, texts, settings)
        cases[case_id] = (task, texts, app, view)
        if view.pipeline_runs:
            scripts[f"{case_id}.pipeline"] = view.pipeline
        scripts[f"{case_id}.explicit"] = view.explicit
    # the whole of `tui-hf run --code`, as a user would save it and run it: both scripts, one after the other
    code, printed_code = cli(
        "run",
        "text-classification",
        "--model",
        str(request.getfixturevalue("tiny_bert_cls_dir")),
        "--device",
        "cpu",
        "--code",
        *CASES[2][3],
    )
    assert code == 0, printed_code
    scripts["cli-code"] = printed_code
    printed = run_scripts(scripts, tmp)
    cases["cli-code"] = ("text-classification", CASES[2][3], cases["classify"][2], printed_code)
    out = {
        case_id: (task, texts, app, view, printed.get(f"{case_id}.pipeline"), printed[f"{case_id}.explicit"])
        for case_id, (task, texts, app, view) in cases.items()
        if case_id != "cli-code"
    }
    out["cli-code"] = cases["cli-code"][:3] + (printed_code, printed["cli-code"])
    return out


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_the_scripts_print_what_tui_hf_run_printed(ran: dict[str, Any], case_id: str) -> None:
    task, texts, app, view, pipeline_out, explicit_out = ran[case_id]
    check(task, app, printed_ok(explicit_out), texts)
    if view.pipeline_runs:
        check(task, app, printed_ok(pipeline_out), texts)
    else:
        assert (
            view.pipeline.startswith("#") and "transformers 5 has no" in view.pipeline or "no pipeline" in view.pipeline
        )


def test_run_code_prints_both_scripts_instead_of_the_result_and_they_run(ran: dict[str, Any]) -> None:
    task, texts, app, printed_code, printed = ran["cli-code"]
    assert "1. The pipeline call" in printed_code and "2. The explicit path" in printed_code
    assert '"result"' not in printed_code and printed_code.count("from transformers import") == 2
    check(task, app, printed_ok(printed), texts)  # the file as printed runs, and its last answer is the app's


# Inputs a task needs, not settings: a script always has them.
INPUTS = {"context", "candidate_labels"}
# The comment that says where a value nobody gave comes from.
SOURCE = re.compile(r"  # .*(default|task_specific_params|generation_config|cut to|forced first|model's own|tui-hf)")


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_a_setting_the_user_did_not_give_is_never_written_without_saying_where_it_comes_from(
    ran: dict[str, Any], case_id: str
) -> None:
    """Not given, a setting appears only where the app's value differs from what transformers does unasked, and
    then with a comment naming where it comes from; where they agree (no setting given), it does not appear."""
    task, _texts, _app, view, *_ = ran[case_id]
    given = next(c[4] for c in CASES if c[0] == case_id)
    for f in TASKS[task].fields:
        if f.name in given or f.name in INPUTS:
            continue
        for line in (view.pipeline + view.explicit).splitlines():
            if re.search(rf"(?i)\b{f.name}\s*=", line):
                assert re.search(SOURCE, line), f"{f.name} written without where it comes from: {line}"
    if not given and task in ("text-classification", "fill-mask"):
        for f in TASKS[task].fields:
            assert not re.search(rf"(?i)\b{f.name}\b", view.pipeline + view.explicit), f.name


def test_a_pipeline_call_takes_only_what_the_user_gave(ran: dict[str, Any]) -> None:
    """The pipeline applies its own defaults and the model's: its call carries the user's settings, nothing else."""
    view = ran["generate"][3]
    call = next(line for line in view.pipeline.splitlines() if "generator(prompt" in line)
    assert "max_new_tokens=8" in call and "do_sample=False" in call and "temperature" not in call
    view = ran["summarize-t5"][3]  # 2 beams from the model's task_specific_params, which generate does not read
    assert re.search(r"num_beams=2,  # the model's task_specific_params", view.explicit)
    assert re.search(r"max_new_tokens=10,\n", view.explicit)  # given: no source comment
    sampled = ran["generate-sampled"][3]
    assert "set_seed(3 + i)" in sampled.pipeline and "set_seed(3 + i)" in sampled.explicit


def test_tensorflow_is_named_once_and_points_to_pytorch(ran: dict[str, Any]) -> None:
    for case_id in ("classify", "qa", "chat"):
        view = ran[case_id][3]
        for script in (view.pipeline, view.explicit) if view.pipeline_runs else (view.explicit,):
            lines = [line for line in script.splitlines() if "TensorFlow" in line]
            assert len(lines) == 1 and "PyTorch" in lines[0]


def test_run_code_refuses_bad_input_in_one_line_and_prints_no_code(tiny_mlm_dir: Path) -> None:
    code, err = cli("run", "fill-mask", "--model", str(tiny_mlm_dir), "--device", "cpu", "--code", "no mask here")
    assert code == 2 and err.startswith("tui-hf: ") and len(err.strip().splitlines()) == 1 and "[MASK]" in err


# -- training: the exported script trains as the job did ------------------------------------------------------


def _training_spec(family: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    common: dict[str, Any] = dict(
        engine=engine,
        max_steps=2,
        batch_size=8,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=7,
        task=family,
    )
    if family == "text-classification":
        data = DataSpec(train=str(SENTIMENT_CSV), max_length=32, validation_fraction=0.1)
        return TrainSpec(data=data, model=str(request.getfixturevalue("tiny_bert_cls_dir")), **common)
    if family == "token-classification":
        rows = [
            {"tokens": ["Sylvain", "lives", "in", "Brooklyn"], "tags": ["B-PER", "O", "O", "B-LOC"]},
            {"tokens": ["Anna", "visited", "Paris", "today"], "tags": ["B-PER", "O", "B-LOC", "O"]},
            {"tokens": ["Berlin", "is", "far"], "tags": ["B-LOC", "O", "O"]},
        ] * 8
        path = tmp_path / "ner.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        data = DataSpec(train=str(path), text_column="tokens", label_column="tags", max_length=16)
        return TrainSpec(data=data, model=str(request.getfixturevalue("tiny_ner_dir")), replace_head=True, **common)
    path = tmp_path / "text.csv"
    path.write_text("text\n" + "\n".join(f"the quick brown fox jumps over the lazy dog {i}" for i in range(24)))
    return TrainSpec(
        data=DataSpec(train=str(path), max_length=16), model=str(request.getfixturevalue("tiny_gpt2_dir")), **common
    )


def _logged(lines: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines.splitlines() if line.startswith('{"step"')]


@pytest.mark.parametrize("engine", ["trainer", "native"])
@pytest.mark.parametrize("family", ["text-classification", "token-classification", "causal-lm"])
def test_the_exported_script_trains_two_steps_as_the_job_did(
    family: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.training_fixtures import run_job
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run

    run_dir = create_run(_training_spec(family, engine, tmp_path, request), tmp_path / "runs", name="job")
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [e for e in EventReader(run_dir).read() if not e.get("replay")]
    job_loss = next(e["loss"] for e in events if e["event"] == "train" and e["step"] == 1)
    job_baseline = next(e for e in events if e["event"] == "eval" and e["step"] == 0)
    script = tmp_path / "train.py"
    code, out = cli("export", str(run_dir), "--script", str(script))
    assert code == 0, out
    assert f"wrote {script}" in out and "sentinel" in out  # it says what the script leaves out
    text = script.read_text()
    assert not IMPORTS_TUI_HF.search(text) and ("Trainer(" in text) == (engine == "trainer")
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env()
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    logged = _logged(ran.stdout)
    loss = next(e["loss"] for e in logged if "loss" in e and e["step"] == 1)
    assert abs(loss - job_loss) <= 1e-4, (loss, job_loss)
    baseline = next(e for e in logged if "eval_loss" in e)  # the same split, tokenization and initial weights
    assert baseline["step"] == 0 and abs(baseline["eval_loss"] - job_baseline["eval_loss"]) <= 1e-4
    assert [e["step"] for e in logged if "loss" in e] == [1, 2]
    assert (tmp_path / "finetuned" / "final" / "config.json").is_file()


# -- the app: a Code view on Output, with Copy and Save; a Script button in the run view ------------------------

UI_SIZE = (140, 44)


async def test_the_output_pane_shows_copies_and_saves_the_code_of_the_last_run(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.ui.app import make_app
    from tui_hf.ui.inference.output import NO_CODE, OutputPane, SaveCodeScreen

    app = make_app(
        app_settings(task="text-classification", model=str(tiny_bert_cls_dir), text="I loved it\nA dull film")
    )
    async with app.run_test(size=UI_SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        out = app.query_one(OutputPane)
        from tui_hf.core.tasks.classification import ClassificationResult

        out.show_result(ClassificationResult([], []), "streaming")  # no finished run behind it: no code to show
        out.code_view = True
        out._draw()
        assert NO_CODE in text_of(app.query_one("#output-view"))
        out.code_view = False
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: out.result is not None and out.code_source is not None)
        await pilot.click("#output-code")
        await pilot.pause()
        shown = text_of(app.query_one("#output-view"), width=200)
        assert 'pipeline("text-classification"' in shown and "AutoModelForSequenceClassification" in shown
        assert "texts = ['I loved it', 'A dull film']" in shown and "torch.no_grad()" in shown
        assert str(app.query_one("#output-code").label) == "Rendered"
        await pilot.click("#output-copy")
        await pilot.pause()
        assert app.clipboard == out.code.text() and "2. The explicit path" in app.clipboard
        target = tmp_path / "classify.py"
        await pilot.click("#output-save")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveCodeScreen))
        app.screen.query_one("#save-code-path").value = str(target)
        await pilot.click("#save-code-ok")
        await wait_until(pilot, lambda: target.exists())
        assert target.read_text() == app.clipboard
        target.write_text("# mine")
        await pilot.click("#output-save")  # the same name again: refused, the file left as it is
        await wait_until(pilot, lambda: isinstance(app.screen, SaveCodeScreen))
        app.screen.query_one("#save-code-path").value = str(target)
        await pilot.click("#save-code-ok")
        await wait_until(pilot, lambda: any("exists" in str(n.message) for n in app._notifications))
        assert target.read_text() == "# mine"
        await pilot.click("#output-code")  # back to the result
        await pilot.pause()
        assert "POSITIVE" in text_of(app.query_one("#output-view")) and not out.code_view


async def test_a_chats_code_holds_the_conversation_it_answered(app_settings: Any, tiny_chat_dir: Path) -> None:
    from textual.widgets import Input, TextArea

    from tests.conftest import wait_until
    from tui_hf.ui.app import make_app
    from tui_hf.ui.inference.output import OutputPane

    app = make_app(app_settings(task="conversational", model=str(tiny_chat_dir), text="hello there"))
    async with app.run_test(size=UI_SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-max_new_tokens", Input).value = "4"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.chat_history) == 2)
        first_reply = app.chat_history[1]["content"]
        app.query_one("#input-text", TextArea).text = "and again"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.chat_history) == 4)
        code = app.query_one(OutputPane).current_code()
        messages = json.loads("[" + code.explicit.split("messages = [", 1)[1].split("\n]", 1)[0].rstrip(",\n") + "]")
        assert messages[:2] == [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": first_reply},
        ]
        assert messages[2:] == [{"role": "user", "content": "and again"}] and "max_new_tokens=4" in code.explicit


async def test_the_run_views_script_button_writes_train_py_into_the_run(app_settings: Any, tmp_path: Path) -> None:
    from tests.test_no_crash import NEWER, finished_runs, notices, shown_with_try
    from tui_hf.ui.app import make_app

    _, newer = finished_runs(tmp_path / "runs")
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48), notifications=True) as pilot:
        await shown_with_try(pilot, app, NEWER)
        app.query_one("#run-script").press()
        from tests.conftest import wait_until

        await wait_until(pilot, lambda: any("train.py" in n for n in notices(app)))
        text = (newer / "train.py").read_text()
        assert "MODEL = 'tiny'\n" in text and "trainer = Trainer(" in text  # its spec: model "tiny", engine unset
        assert not IMPORTS_TUI_HF.search(text)
        app.query_one("#run-script").press()  # written before: left alone, and said so
        await wait_until(pilot, lambda: any("exists" in n for n in notices(app)))
        assert (newer / "train.py").read_text() == text


def test_export_script_refusals_are_one_line_and_touch_nothing(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    run_dir = create_run(
        TrainSpec(data=DataSpec(train=str(SENTIMENT_CSV)), model=str(tiny_bert_cls_dir)), tmp_path / "runs", name="r"
    )
    mine = tmp_path / "train.py"
    mine.write_text("# my own script")
    for argv, says in (
        ([str(run_dir), "--script", str(mine)], "exists"),
        ([str(run_dir), "out.csv", "--script", str(tmp_path / "new.py")], "not both"),
        ([str(run_dir), "--script", str(tmp_path)], "is a folder"),
        ([str(tmp_path / "runs" / "nope"), "--script", str(tmp_path / "new.py")], "nope"),
    ):
        code, err = cli("export", *argv)
        assert code == 2 and err.startswith("tui-hf: ") and len(err.strip().splitlines()) == 1 and says in err, err
    assert mine.read_text() == "# my own script" and not (tmp_path / "new.py").exists()
    assert not (tmp_path / "out.csv").exists()


def test_every_script_is_clean_python(ran: dict[str, Any], tmp_path: Path) -> None:
    """No unused import, no undefined name, imports sorted, lines within 120: for every task's scripts and every
    training script (each family and engine, a local file or a hub dataset, with and without the optional parts)."""
    import shutil

    from tui_hf.core.training.script import training_script
    from tui_hf.core.training.spec import DataSpec, TrainSpec

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    scripts = {}
    for case_id, (_task, _texts, _app, view, *_rest) in ran.items():
        if case_id != "cli-code":
            scripts[f"{case_id}-explicit"] = view.explicit
            if view.pipeline_runs:
                scripts[f"{case_id}-pipeline"] = view.pipeline
    for family in ("text-classification", "token-classification", "causal-lm"):
        for engine in ("trainer", "native"):
            for train in ("/data/rows.csv", "imdb"):
                for extra in (
                    {},
                    {
                        "eval_steps": 3,
                        "max_grad_norm": 0.0,
                        "max_steps": 5,
                        "replace_head": True,
                        "device": "cpu",
                        "warmup": 3.0,
                        "trust_remote_code": True,
                    },
                ):
                    spec = TrainSpec(data=DataSpec(train=train), task=family, engine=engine, **extra)
                    for labels in ([], ["a", "b"]):
                        scripts[f"{family}-{engine}-{train[-4:]}-{len(extra)}-{len(labels)}"] = training_script(
                            spec, labels, "run"
                        )
    for name, text in scripts.items():
        (tmp_path / f"{name.replace('/', '_')}.py").write_text(text)
    proc = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I", "--line-length", "120", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_the_forms_defaults_are_not_settings_the_user_gave(tiny_mlm_dir: Path, tiny_ner_dir: Path) -> None:
    """The app's form holds every field: one left at its default is not written as if the user had chosen it."""
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks.code import code_for
    from tui_hf.core.tasks.registry import get_task

    fill = get_task("fill-mask")
    loaded = load(resolve(parse_ref(str(tiny_mlm_dir))), fill, "cpu")
    text = ["Paris is the [MASK] of France."]
    untouched = code_for(fill, loaded, text, {"top_k": 5})
    assert "top_k" not in untouched.pipeline and "top_k" not in untouched.explicit
    chosen = code_for(fill, loaded, text, {"top_k": 3})
    assert "unmasker(text, top_k=3)" in chosen.pipeline and "probs.topk(3)\n" in chosen.explicit
    ner = get_task("token-classification")
    loaded = load(resolve(parse_ref(str(tiny_ner_dir))), ner, "cpu")
    line = next(
        line
        for line in code_for(ner, loaded, text, {"aggregation_strategy": "simple"}).pipeline.splitlines()
        if "aggregation_strategy=" in line
    )
    assert line.endswith("# tui-hf's default; the pipeline's own is \"none\"")
    line = next(
        line
        for line in code_for(ner, loaded, text, {"aggregation_strategy": "max"}).pipeline.splitlines()
        if "aggregation_strategy=" in line
    )
    assert "aggregation_strategy='max')" in line and "#" not in line
