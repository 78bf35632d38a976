"""``rlfn serve``: the web page and the HTTP API (:mod:`rlfn.serve`) on uvicorn; needs ``rlfn[serve]``."""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import socket
import sys

from ..errors import RLFNError, UnknownModelError
from ..signals import STOP_SIGNALS, Stopped, handled
from .common import add_device_argument, add_model_arguments, add_threads_argument, float_in, int_in, load_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 for every "
                        "interface, then also set --token or put it behind a proxy that authenticates)")
    p.add_argument("--port", type=int_in(0, 65535), default=8000, help="port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (repeatable); on 127.0.0.1 or ::1 the server "
                        "otherwise answers only to localhost and its own address, against DNS rebinding")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' on /v1/* (default: $RLFN_SERVE_TOKEN, or none)")
    add_model_arguments(p)
    g = p.add_argument_group("work and limits")
    g.add_argument("--workers", type=int_in(1, 256), default=1, help="upscales run at the same time (default: %(default)s)")
    g.add_argument("--queue", type=int_in(0, 100_000), default=8, metavar="N",
                   help="requests that may wait for a worker; more get 503 with Retry-After (default: %(default)s)")
    g.add_argument("--max-bytes", type=int_in(1, 2**40), default=20_000_000, metavar="N",
                   help="largest upload in bytes; larger ones get 413 (default: %(default)s)")
    g.add_argument("--max-receiving", type=int_in(1, 2**42), default=None, metavar="N",
                   help="bytes of uploads received or held at once; more get 503 with Retry-After before they "
                        "are read (default: room for workers + 1 uploads of --max-bytes)")
    g.add_argument("--grace", type=float_in(0, 3600), default=5.0, metavar="SECONDS",
                   help="on SIGINT, SIGTERM or SIGHUP: how long running upscales may take to finish before they "
                        "are cancelled and answered with 503 (default: %(default)s); a second signal ends it at once")
    g.add_argument("--max-pixels", type=int_in(1, 10**12), default=4_000_000, metavar="N",
                   help="largest input in pixels (width × height), checked before decoding, so decompression "
                        "bombs get 413 (default: %(default)s)")
    add_device_argument(g)
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                   help="arithmetic, as in rlfn upscale: auto = fp16 on CUDA, bf16 on a CPU that computes it "
                        "natively, fp32 elsewhere (default: %(default)s)")
    add_threads_argument(g)
    g.add_argument("--tile", type=int_in(0, 65536), default=512, metavar="N",
                   help="tile size in input pixels for large images, 0 = never tile (default: %(default)s)")
    p.add_argument("--quiet", "-q", action="store_true", help="no access log")


def served_models(args: argparse.Namespace, device) -> list:
    """The explicit model, or else every model whose weights ship in the package (no network needed)."""
    from .. import load_model

    if args.model is not None or args.weights is not None or args.scale is not None or args.pretrained not in ("auto", "ours"):
        return [load_from_args(args, device)]
    found = []
    for scale in (4, 2, 3):
        try:
            found.append(load_model("rlfn_s", scale, pretrained="ours", device=device))
        except UnknownModelError:
            continue
    if not found:
        raise RLFNError("no bundled weights found in this installation; pass --model or --weights")
    return found


def allowed_hosts(host: str, extra: list[str]) -> frozenset[str] | None:
    """The Host header names to answer: on a loopback address its own names (and --allow-host); elsewhere any
    name unless --allow-host lists them (a server on 0.0.0.0 cannot know the names it is reached by)."""
    from ..serve.app import host_name

    names = {host_name(n) for n in extra}
    if _is_loopback(host):
        return frozenset({host_name(host), "localhost", "127.0.0.1", "::1", *names})
    return frozenset({host_name(host), *names}) if names else None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args: argparse.Namespace) -> int:
    from ..inference.devices import resolve_device

    try:
        import uvicorn

        from ..serve import Catalogue, Settings, create_app
    except ImportError as e:
        raise RLFNError(f"rlfn serve needs its extra: pip install 'rlfn[serve]' ({e})") from None
    args.token_given = args.token is not None
    if args.token is None:
        args.token = os.environ.get("RLFN_SERVE_TOKEN")
    if args.token is not None and not args.token.strip():
        given = "--token" if args.token_given else "RLFN_SERVE_TOKEN (set in the environment)"
        raise RLFNError(f"{given}: must not be empty; give a token, or unset it to run without one")
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and args.max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = args.max_pixels  # Pillow's own guard must not be stricter than ours

    device = resolve_device(args.device)
    catalogue = Catalogue.from_models(served_models(args, device), device=device, tile=args.tile or None,
                                      threads=args.threads, precision=args.precision,
                                      warn=lambda msg: print(f"rlfn serve: warning: {msg}", file=sys.stderr))
    catalogue.warm_up()
    settings = Settings(max_bytes=args.max_bytes, max_pixels=args.max_pixels, workers=args.workers,
                        max_queued=args.queue, token=args.token, allowed_hosts=allowed_hosts(args.host, args.allow_host),
                        max_receiving=args.max_receiving, grace=args.grace)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as e:
        raise RLFNError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    if not _is_loopback(args.host) and args.token is None:
        print(f"rlfn serve: warning: listening on {args.host} without --token: anyone who can reach this "
              "machine can use it", file=sys.stderr)
    up = catalogue.default.upscaler
    print(f"rlfn serve: http://{host}:{port}/ (models {', '.join(catalogue.entries)}; device {up.device}, "
          f"{up.precision_note}; {args.workers} worker(s), queue {args.queue}; API docs at /docs); Ctrl-C stops",
          flush=True)
    app = create_app(catalogue, settings)
    # uvicorn's own wait for open connections comes after the app has answered them all (grace + a margin)
    config = uvicorn.Config(app, log_level="warning" if args.quiet else "info", access_log=not args.quiet,
                            timeout_graceful_shutdown=args.grace + 5)
    if not hasattr(uvicorn.Server, "capture_signals"):  # the hook the clean stop overrides (uvicorn 0.29 on)
        raise RLFNError(f"rlfn serve needs uvicorn 0.29 or newer for its clean stop; this is {uvicorn.__version__}")
    server = _server_class(uvicorn)(config, app.state.stopping)
    server.run(sockets=[sock])
    if server.signum is None:
        print("rlfn serve: stopped", file=sys.stderr)
        return 0
    raise Stopped(server.signum)  # reported as "interrupted (SIGTERM)", exit status 128 + the signal's number


def _server_class(uvicorn):
    class Server(uvicorn.Server):
        """uvicorn's server with rlfn's stop: SIGINT, SIGTERM and SIGHUP alike drain the app (JSON 503 to what
        cannot finish within --grace, see rlfn.serve.stopping), then stop it; a second signal ends the grace
        period, a third stops waiting for open connections."""

        def __init__(self, config, stopping):
            super().__init__(config)
            self.stopping, self.signum, self.signals = stopping, None, 0

        @contextlib.contextmanager
        def capture_signals(self):  # uvicorn's hook for its signal handlers: ours instead, SIGHUP included
            with handled(STOP_SIGNALS, self._on_signal):
                yield

        def _on_signal(self, signum: int, _frame) -> None:
            self.should_exit = True
            self.signals += 1
            if self.signals > 2:  # a third: uvicorn stops waiting for open connections
                self.force_exit = True
            if self.signum is not None:  # a second: the grace period ends now
                self.stopping.request(now=True)
                return
            self.signum = signum
            self.stopping.request()
            # os.write, not print: a handler may run in the middle of another print to stderr; and stderr may be
            # a terminal that hung up (the SIGHUP) or a closed pipe
            try:
                os.write(2, f"rlfn serve: {signal.Signals(signum).name}: stopping; running jobs have "
                            f"{self.stopping.grace:g} s to finish\n".encode())
            except OSError:
                pass

    return Server
