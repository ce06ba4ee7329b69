"""`tui-hf --serve` lets in its own page only: token required, cross-origin and foreign-host handshakes refused."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp  # in the test extras: a missing one fails here, it is never skipped
import pytest
import textual_serve.server  # noqa: F401


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """`tui-hf --serve` on a free port; always stopped (its whole process group) when the test ends."""
    port = free_port()
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_hf",
            "--serve",
            "--port",
            str(port),
            "--model",
            "embedded",
            "--task",
            "feature-extraction",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 60
        token = None
        while token is None:
            log.seek(0)
            found = re.search(r"http://localhost:\d+/\?token=([A-Za-z0-9_-]+)", log.read())
            token = found.group(1) if found else None
            if time.monotonic() > deadline or proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"server did not start: {log.read()}")
            time.sleep(0.1)
        # The URL is printed once the socket accepts: a script that read it connects at once.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        yield port, token
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_the_address_is_printed_only_once_the_port_accepts_connections(tmp_path: Path) -> None:
    """The server's own print, replaced by a connection attempt at the moment it prints: the kernel completes a
    TCP handshake on a listening socket without the server's loop, so the attempt tells whether it listens."""
    port = free_port()
    script = tmp_path / "announce.py"
    script.write_text(f"""
import os, socket
from tui_hf.cli.serve import make_server

server = make_server("true", "localhost", {port}, "token", open_host=False)
def at_print(*args, **kwargs):
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        print("accepting", flush=True)
    except OSError as exc:
        print("not listening:", exc, flush=True)
    os._exit(0)
server.console.print = at_print
server.serve()
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "accepting", proc.stdout + proc.stderr


def test_a_port_in_use_is_one_line_and_no_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tui_hf",
                "--serve",
                "--port",
                str(port),
                "--model",
                "embedded",
                "--task",
                "feature-extraction",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2 and "token=" not in proc.stdout, proc.stdout
    assert proc.stderr.count("\n") == 1 and "the port is in use" in proc.stderr, proc.stderr


async def handshake(url: str, origin: str | None, host: str | None = None) -> int:
    headers = {k: v for k, v in (("Origin", origin), ("Host", host)) if v}
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


async def get(url: str, host: str | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Host": host} if host else None) as response:
            return response.status, await response.text()


async def test_only_the_servers_own_page_with_its_token_gets_a_websocket(server: tuple[int, str]) -> None:
    port, token = server
    own = f"http://127.0.0.1:{port}"
    ws = f"ws://127.0.0.1:{port}/ws/{token}?width=80&height=24"
    assert await handshake(ws, origin="http://evil.example") == 403  # a page on another site
    assert await handshake(ws, origin=None) == 403
    assert await handshake(f"ws://127.0.0.1:{port}/ws/wrong-token?width=80&height=24", origin=own) == 403
    assert await handshake(f"ws://127.0.0.1:{port}/ws?width=80&height=24", origin=own) in (403, 404)  # the old path
    # DNS rebinding: a foreign name that resolves here, with a matching Origin, is still refused.
    assert await handshake(ws, origin=f"http://evil.example:{port}", host=f"evil.example:{port}") == 403
    assert await handshake(ws, origin=own) == 101


def test_it_listens_on_localhost_only_by_default(server: tuple[int, str]) -> None:
    port, _ = server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no address besides loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


async def test_the_page_needs_the_token_and_points_at_the_tokened_socket(server: tuple[int, str]) -> None:
    port, token = server
    status, _ = await get(f"http://127.0.0.1:{port}/")
    assert status == 403
    status, page = await get(f"http://127.0.0.1:{port}/?token={token}")
    assert status == 200 and f"ws://127.0.0.1:{port}/ws/{token}" in page


def test_the_app_command_keeps_each_argument_whole_through_the_shell(tmp_path: Path) -> None:
    import argparse

    from tui_hf.cli.serve import app_command

    hostile = str(tmp_path / "a b;touch pwned$(id)")
    args = argparse.Namespace(
        device="auto", dtype="auto", model=hostile, offline=False, trust_remote_code=False, allow_pickle=False
    )
    line = app_command(args, "feature-extraction")
    out = subprocess.run(
        ["sh", "-c", f"printf '%s\\n' {line.split(' ', 1)[1]}"], capture_output=True, text=True, cwd=tmp_path
    )  # the shell textual-serve uses sees one argument, nothing runs
    assert hostile in out.stdout.splitlines() and not (tmp_path / "pwned").exists()


def test_the_served_app_loads_the_model_with_device_map_and_quantize() -> None:
    import shlex

    from tui_hf.cli import build_parser
    from tui_hf.cli.serve import app_command

    args = build_parser().parse_args(["--serve", "--model", "gpt2", "--device-map", "auto", "--quantize", "4bit"])
    argv = shlex.split(app_command(args, "text-generation"))
    assert argv[argv.index("--device-map") + 1] == "auto" and argv[argv.index("--quantize") + 1] == "4bit"
    # and the served command parses back to the same settings
    again = build_parser().parse_args(argv[3:])
    assert (again.device_map, again.quantize, again.model) == ("auto", "4bit", "gpt2")
    plain = shlex.split(app_command(build_parser().parse_args(["--serve"]), "text-generation"))
    assert "--device-map" not in plain and "--quantize" not in plain
