"""``python -m stead.testing.fake_openai``: serve a JSON script from a separate process."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._rules import load_script
from ._server import FakeOpenAIServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stead.testing.fake_openai``: serve a JSON script until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m stead.testing.fake_openai", description="Fake OpenAI-compatible HTTP server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--script", help="JSON script file (see stead.testing.load_script)")
    source.add_argument("--script-json", help="the JSON script itself")
    parser.add_argument("--log", help="append one JSON line per answered request to this file")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    if args.script is not None:
        with open(args.script, encoding="utf-8") as f:
            raw = json.load(f)
    else:
        raw = json.loads(args.script_json)
    try:
        responder = load_script(raw)
    except (ValueError, TypeError) as exc:
        parser.error(f"invalid script: {exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with FakeOpenAIServer(
        responder, host=args.host, port=args.port, log_path=args.log, verbose=args.verbose
    ) as srv:
        print(f"READY {srv.base_url}", flush=True)
        while not stop.wait(0.2):
            pass
        for error in srv.errors:
            print(f"fake openai: {error}", file=sys.stderr)
    return 0
