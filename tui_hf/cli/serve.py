"""`tui-hf --serve`: the app in a web browser, through textual-serve."""

from __future__ import annotations

import argparse
import sys

from tui_hf.cli import fail
from tui_hf.core.errors import EXIT_USAGE


def serve(args: argparse.Namespace, task: str) -> int:
    """Each browser tab gets its own app process, started by textual-serve."""
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        return fail("--serve needs textual-serve: pip install 'tui-hf[serve]'", EXIT_USAGE)
    argv = [sys.executable, "-m", "tui_hf", "--task", task, "--device", args.device, "--dtype", args.dtype]
    if args.model:
        argv += ["--model", args.model]
    argv += [flag for flag, on in (("--offline", args.offline), ("--trust-remote-code", args.trust_remote_code),
                                   ("--allow-pickle", args.allow_pickle)) if on]
    # textual-serve takes one command line and runs it through a shell: every argument is quoted.
    Server(shlex.join(argv), host="localhost", port=args.port, title="tui-hf").serve()
    return 0
