"""Typed values for task fields, from what a user typed in a form or on the command line."""

from __future__ import annotations

from typing import Any

from tui_hf.core.tasks.registry import InputField

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def coerce(field: InputField, raw: Any) -> Any:
    """Convert `raw` to the field's type; raises ValueError with a message naming the field."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{field.label} must be a{'n integer' if field.kind == 'int' else ' number'}, "
                         f"got {raw!r}") from None
    if field.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{field.label} must be true or false, got {raw!r}")
    if field.kind == "choice" and field.choices and text not in field.choices:
        raise ValueError(f"{field.label} must be one of {', '.join(field.choices)}, got {raw!r}")
    return raw
