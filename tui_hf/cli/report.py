"""How the command line reports an error: one line on stderr, the core's message plus the flag that would allow
what was refused (the core names no flags; the CLI knows its own), and the error class's exit code."""

from __future__ import annotations

import sys

from tui_hf.core.errors import (
    OfflineError,
    PickleOnlyError,
    RemoteCodeError,
    RunRefused,
    TargetNotEmptyError,
    TuiHfError,
)

# What the command line adds to a core error's message: the core names no flags, the CLI knows its own.
HINTS: dict[type[TuiHfError], str] = {
    PickleOnlyError: "pass --allow-pickle to load them anyway",
    RemoteCodeError: "pass --trust-remote-code to allow it",
    OfflineError: "try --model DIR or --model embedded",
    TargetNotEmptyError: "pass --overwrite to write into it anyway",
}


def fail(message: str, code: int) -> int:
    print(f"tui-hf: error: {message}", file=sys.stderr)
    return code


# Spec keys that have a flag of their own on `tui-hf train`: a refused run names the flag that allows it.
FLAGS = {"trust_remote_code": "--trust-remote-code", "allow_pickle": "--allow-pickle", "replace_head": "--replace-head"}


def error_line(exc: TuiHfError) -> str:
    """The core's message, plus what to type about it on the command line (a refused run: each problem, with
    its flag where one allows it)."""
    if isinstance(exc, RunRefused):
        parts = [p.text + (f" ({FLAGS[p.key]})" if p.key in FLAGS else "") for p in exc.problems]
        return parts[0] if len(parts) == 1 else f"{len(parts)} problems:\n  " + "\n  ".join(parts)
    for cls in type(exc).__mro__:
        if cls in HINTS:
            return f"{exc} ({HINTS[cls]})"
    return str(exc)
