"""What a task's form holds: typed values from what a user typed (in the app or on the command line), and
every setting's value for a loaded model with where it comes from (tasks/defaults.py decides them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.defaults import (
    CAUSAL,
    SEQ2SEQ,
    Setting,
    causal_generation,
    given,
    seq2seq_generation,
    static_settings,
)
from tui_hf.core.tasks.registry import InputField, TaskSpec, get_task
from tui_hf.core.tasks.translation import plan_translation

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def coerce(field: InputField, raw: Any) -> Any:
    """Convert `raw` to the field's type; raises TaskInputError with a message naming the field."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
    except ValueError:
        raise TaskInputError(
            f"{field.label} must be a{'n integer' if field.kind == 'int' else ' number'}, got {raw!r}"
        ) from None
    if field.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise TaskInputError(f"{field.label} must be true or false, got {raw!r}")
    if field.kind == "choice" and field.choices and text not in field.choices:
        raise TaskInputError(f"{field.label} must be one of {', '.join(field.choices)}, got {raw!r}")
    return raw


def task_settings(
    spec: TaskSpec | str, loaded: LoadedModel, options: Mapping[str, Any] | None = None
) -> dict[str, Setting]:
    """Every setting of the task's form for this model: value and source, `options` applied on top."""
    spec = get_task(spec) if isinstance(spec, str) else spec
    if spec.name == "translation":
        return plan_translation(loaded, options).generation.settings
    if spec.name in SEQ2SEQ:
        return seq2seq_generation(spec, loaded, spec.name, options).settings
    if spec.name in CAUSAL:
        return causal_generation(spec, loaded, options).settings
    return static_settings(spec, given(options))
