"""`tui-hf --serve`: the app in a web browser, through textual-serve, for its user only.

textual-serve (1.1) checks neither the WebSocket's Origin nor the Host header, and needs no credential:
any web page the user opens could connect to ws://localhost:8000/ws, drive the app and read the screen. So
the server here adds three checks: a random token, printed in the URL, that the page and the WebSocket
must carry; an Origin that is the server's own (a cross-site page is refused at the handshake); and, unless
--host opened it up, a Host header naming this machine's loopback (DNS rebinding is refused). It binds
localhost unless --host says otherwise. textual-serve starts each app through a shell: every argument is
quoted with shlex. The address is printed once the port accepts connections (textual-serve prints it just
before the socket listens, so a script that read it could connect too early).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import secrets
import shlex
import signal
import socket
import sys
from typing import Any

from tui_hf.cli.report import fail
from tui_hf.core.errors import EXIT_USAGE

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def app_command(args: argparse.Namespace, task: str) -> str:
    """The command line each browser tab's app runs (one string: textual-serve runs it through a shell)."""
    argv = [sys.executable, "-m", "tui_hf", "--task", task, "--device", args.device, "--dtype", args.dtype]
    if args.model:
        argv += ["--model", args.model]
    for flag, value in (
        ("--device-map", getattr(args, "device_map", None)),
        ("--quantize", getattr(args, "quantize", None)),
    ):
        if value:  # each tab loads the model as the terminal app would have
            argv += [flag, value]
    argv += [
        flag
        for flag, on in (
            ("--offline", args.offline),
            ("--trust-remote-code", args.trust_remote_code),
            ("--allow-pickle", args.allow_pickle),
        )
        if on
    ]
    return shlex.join(argv)


def _host_name(host_header: str) -> str:
    """The host part of a Host header ("[::1]:8000" -> "::1", "localhost:8000" -> "localhost")."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def make_server(command: str, host: str, port: int, token: str, open_host: bool) -> Any:
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.server import Server

    class GuardedServer(Server):
        def _same_site(self, request: web.Request) -> bool:
            """The Host header names this server (loopback unless opened with --host)."""
            return open_host or _host_name(request.host) in LOOPBACK

        def _token_ok(self, given: str) -> bool:
            return hmac.compare_digest(given.encode(), token.encode())

        @web.middleware
        async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
            if not self._same_site(request):
                raise web.HTTPForbidden(text="tui-hf: unknown host\n")
            return await handler(request)

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[self.guard])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes(
                [
                    web.get("/", self.handle_index, name="index"),
                    web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                    web.get("/download/{key}", self.handle_download, name="download"),
                    web.static("/static", self.statics_path, name="static"),
                ]
            )
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def handle_index(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
            if not self._token_ok(request.query.get("token", "")):
                raise web.HTTPForbidden(
                    text="tui-hf: open the address tui-hf --serve printed (it carries the access token)\n"
                )
            base = f"{request.scheme}://{request.host}"
            ws = ("wss://" if request.scheme == "https" else "ws://") + f"{request.host}/ws/{token}"
            try:
                font_size = int(request.query.get("fontsize", "16"))
            except ValueError:
                font_size = 16
            context = {
                "font_size": font_size,
                "app_websocket_url": ws,
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": self.title},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            origin = request.headers.get("Origin", "")
            own = (f"http://{request.host}", f"https://{request.host}")
            if not self._token_ok(request.match_info.get("token", "")) or origin not in own:
                # A page on another site (or none) is refused before the upgrade: it never reaches an app.
                raise web.HTTPForbidden(text="tui-hf: refused\n")
            return await super().handle_websocket(request)

        def serve(self, debug: bool = False) -> None:
            """textual-serve's serve, with the address printed through aiohttp's `print` hook: it runs once every
            socket listens (textual-serve prints from on_startup, before that)."""
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.request_exit)
                except NotImplementedError:
                    pass
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                print=lambda _text: self.announce(),
            )

        def announce(self) -> None:
            shown = "localhost" if host in LOOPBACK else (socket.gethostname() if host in ("0.0.0.0", "::") else host)
            self.console.print(
                f"tui-hf in the browser: http://{shown}:{port}/?token={token}", markup=False, highlight=False
            )
            if open_host:
                self.console.print(
                    f"warning: listening on {host}: anyone who can reach this machine and has "
                    "the address above can use the app (the traffic is not encrypted)",
                    style="yellow",
                    markup=False,
                    highlight=False,
                )
            self.console.print("Ctrl+C stops the server", markup=False, highlight=False)

    return GuardedServer(command, host=host, port=port, title="tui-hf")


def serve(args: argparse.Namespace, task: str) -> int:
    """Each browser tab gets its own app process, started by textual-serve."""
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        return fail("--serve needs textual-serve: pip install 'tui-hf[serve]'", EXIT_USAGE)
    host = getattr(args, "host", None)
    token = secrets.token_urlsafe(24)
    try:
        make_server(app_command(args, task), host or "localhost", args.port, token, open_host=bool(host)).serve()
    except OSError as exc:  # binding failed: nothing was printed, nothing listens
        import errno

        why = (
            "the port is in use: choose another with --port"
            if exc.errno == errno.EADDRINUSE
            else (exc.strerror or str(exc))
        )
        return fail(f"--serve cannot listen on {host or 'localhost'}:{args.port}: {why}", EXIT_USAGE)
    return 0
