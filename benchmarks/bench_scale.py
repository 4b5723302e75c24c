"""Costs that grow with the number of runs: parked runs, many concurrent agent runs, several workers.

    python benchmarks/bench_scale.py waiting  [--runs 10000] [--wait approval|message] [--resume 20]
    python benchmarks/bench_scale.py agents   [--runs 1000] [--latency 0.2] [--model http|local] [--concurrency 100]
                                              [--repeat 1]
    python benchmarks/bench_scale.py workers  [--runs 1000] [--workers 1,2,3]
    python benchmarks/bench_scale.py temporal [--runs 1000] [--workers 1,2]
    python benchmarks/bench_scale.py shared   [--runs 1000] [--latency 0.2]

* waiting: --runs runs on one embedded worker (default concurrency, default ``suspend``), each waiting for an
  approval (an agent whose tool needs one; a local model answers at once) or a message. Reported: how fast they
  reach their wait and are let go of (parked), the worker's memory once all are parked, and the time from
  ``approve``/``send`` to that run's end for --resume of them (median, max).
* agents: --runs tool-agent runs (model -> tool -> model, a model answering in --latency s) at once, plain
  ``Runner.run`` in one process (asyncio.gather) beside one stead worker; runs/s from the first start to the
  last result. ``--model http``: the real openai client to ``python -m stead.testing.fake_openai`` in a process
  of its own (Responses API on both sides); ``--model local``: a Model subclass in the process that sleeps.
* workers: the stead side of "agents" on 1, 2, 3 worker processes sharing one SQLite file (runs/s, share each).
* temporal: the same on Temporal (a dev server started here), model calls on a task queue of the agent's own
  (``route.model:Tools=…``), 1 and 2 worker processes each serving both queues.
* shared: openai-agents 0.24 checks every concurrent run of one ``Agent`` object on each turn; one module-level
  agent for all runs beside one agent per run, plain and in stead workflows (local model).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import (  # noqa: E402
    Agent,
    Model,
    ModelResponse,
    OpenAIResponsesModel,
    Runner,
    Usage,
    function_tool,
)
from agents.testing import assistant_message, function_call  # noqa: E402
from openai import AsyncOpenAI, Timeout  # noqa: E402

import stead  # noqa: E402
from stead.agents import approve  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from _fake import fake_server_process  # noqa: E402

# -- the agents ------------------------------------------------------------------------------------------------


class LocalModel(Model):
    """Asks for the tool named in its instructions, then answers once a tool output is in the conversation."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        items = input if isinstance(input, list) else []
        if any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items):
            return ModelResponse(
                output=[assistant_message("done")], usage=Usage(requests=1), response_id=None
            )
        tool = "refund" if "Refund" in str(system_instructions) else "lookup"
        call = function_call(tool, {"key": "A1"}, call_id=f"call_{tool}")
        return ModelResponse(output=[call], usage=Usage(requests=1), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@function_tool(needs_approval=True)
def refund(key: str) -> str:
    """Refund an order."""
    return f"refunded {key}"


@function_tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def tool_agent(model: Model | str) -> Agent[Any]:
    return Agent(name="Tools", instructions="Use tools.", tools=[lookup], model=model)


_settings: dict[str, Any] = {"model": "gpt-4o-mini"}
"""What the workflows' agents use: a model name (resolved through OPENAI_BASE_URL) or a LocalModel."""

shared_agent = Agent(name="Tools", instructions="Use tools.", tools=[lookup], model=LocalModel(0.2))
"""One module-level agent for every run (the README's idiom), for the "shared" workload."""


@stead.workflow
async def needs_approval(i: int) -> str:
    agent = Agent(name="Support", instructions="Refund.", tools=[refund], model=LocalModel())
    return str((await Runner.run(agent, f"refund {i}")).final_output)


@stead.step
async def greet(i: int) -> str:
    return f"hello {i}"


@stead.workflow
async def needs_message(i: int) -> str:
    await greet(i)
    return str(await stead.wait_for("user"))


@stead.workflow
async def tools_run(i: int) -> str:
    return str((await Runner.run(tool_agent(_settings["model"]), f"look up {i}")).final_output)


@stead.workflow
async def shared_run(i: int) -> str:
    return str((await Runner.run(shared_agent, f"look up {i}")).final_output)


WORKFLOWS = [needs_approval, needs_message, tools_run, shared_run]

# -- helpers ---------------------------------------------------------------------------------------------------


def rss_mb(pid: int | None = None) -> float:
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def fake_model(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI server in a process of its own: asks for one lookup, then answers, each after --latency."""
    slow = {"delay": latency} if latency else {}
    rules = {
        "rules": [
            {
                "match": {"has_tool_output": False},
                "reply": {"tool_calls": [{"name": "lookup", "arguments": {"key": "a"}}], **slow},
            },
        ],
        "default": {"text": "done", **slow},
    }
    return fake_server_process(rules)


@contextlib.contextmanager
def model_env(kind: str, latency: float) -> Any:
    """Point both sides at the model: a fake server process (``http``) or a LocalModel (``local``)."""
    if kind == "local":
        _settings["model"] = LocalModel(latency)
        yield
        return
    process, url = fake_model(latency)
    os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="bench", STEAD_OPENAI_API="responses")
    _settings["model"] = "gpt-4o-mini"
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)


async def timed(runs: int, go: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await go()
    return runs / (time.perf_counter() - started)


# -- waiting ---------------------------------------------------------------------------------------------------


def counts(path: Path) -> tuple[int, int]:
    """(runs waiting, runs parked), read beside the worker through a connection of our own."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        waiting = conn.execute(
            "SELECT COUNT(DISTINCT run_id) FROM steps WHERE kind = 'wait' AND status = 'pending'"
        ).fetchone()[0]
        parked = conn.execute("SELECT COUNT(*) FROM runs WHERE suspended = 1").fetchone()[0]
    return int(waiting), int(parked)


async def waiting(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    path = directory / "waiting.db"
    query = f"?suspend={args.suspend}" if args.suspend is not None else ""
    engine = stead.connect(f"sqlite:///{path}{query}")
    workflow = needs_approval if args.wait == "approval" else needs_message
    try:
        handles = [await engine.start(workflow, i) for i in range(args.runs)]
        before = rss_mb()
        async with engine.worker([workflow], concurrency=args.concurrency):
            started = time.perf_counter()
            all_waiting = peak = 0.0
            while True:
                await asyncio.sleep(0.25)
                peak = max(peak, rss_mb())
                waiting_now, parked = counts(path)
                if not all_waiting and waiting_now >= args.runs:
                    all_waiting = time.perf_counter() - started
                if parked >= args.runs:
                    break
            all_parked = time.perf_counter() - started
            after = rss_mb()
            latencies = []
            for handle in random.Random(1).sample(handles, args.resume):
                t0 = time.perf_counter()
                if args.wait == "approval":
                    await approve(engine, handle.run_id, "call_refund")
                    expected = "done"
                else:
                    await engine.send(handle.run_id, "user", "bye")
                    expected = "bye"
                assert await handle.result(timeout=120) == expected
                latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        await engine.close()
    return {
        "runs": args.runs,
        "wait": args.wait,
        "concurrency": args.concurrency,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_all_parked_mb": after,
        "seconds_until_all_waiting": all_waiting or all_parked,
        "seconds_until_all_parked": all_parked,
        "parked_per_s": args.runs / all_parked,
        "resume_ms_median": statistics.median(latencies),
        "resume_ms_max": max(latencies),
        "load": load(),
    }


def report_waiting(f: dict[str, Any]) -> None:
    print(
        f"{f['runs']} runs waiting for {'an approval' if f['wait'] == 'approval' else 'a message'}, one embedded"
    )
    print(f"worker (concurrency {f['concurrency']}), {f['load']}")
    print(
        f"  all waiting after {f['seconds_until_all_waiting']:.1f} s, all parked after "
        f"{f['seconds_until_all_parked']:.1f} s ({f['parked_per_s']:.0f} runs/s)"
    )
    print(
        f"  worker RSS before {f['rss_before_mb']:.0f} MB, peak {f['rss_peak_mb']:.0f} MB, all parked "
        f"{f['rss_all_parked_mb']:.0f} MB"
    )
    print(f"  resume -> run finished: median {f['resume_ms_median']:.1f} ms, max {f['resume_ms_max']:.1f} ms")


# -- agents, workers, temporal, shared ---------------------------------------------------------------------------


async def plain(runs: int, agent: Callable[[], Agent[Any]]) -> float:
    # The SDK's default provider keeps one HTTP client per process, bound to the loop that made it: a round
    # of its own (asyncio.run) needs a client of its own, which the SDK would make the same way. Its connect
    # timeout is longer than the client's 5 s: a thousand calls at once keep the event loop so busy with the
    # client's work per response (about 10 ms of CPU here) that it gets to some new connections after 5 s, and
    # those runs failed (stead's concurrency keeps its calls fewer, and its retries would cover them).
    client = (
        AsyncOpenAI(timeout=Timeout(600.0, connect=60.0)) if isinstance(_settings["model"], str) else None
    )

    def fresh() -> Agent[Any]:
        made = agent()
        if client is not None and isinstance(made.model, str):
            made.model = OpenAIResponsesModel(made.model, client)
        return made

    async def go() -> None:
        await asyncio.gather(*(Runner.run(fresh(), f"look up {i}") for i in range(runs)))

    try:
        return await timed(runs, go)
    finally:
        if client is not None:
            await client.close()


async def durable(url: str, workflow: stead.Workflow[[int], str], runs: int, concurrency: int) -> float:
    async with stead.connect(url) as engine:

        async def go() -> None:
            handles = [await engine.start(workflow, i) for i in range(runs)]
            async with engine.worker(WORKFLOWS, concurrency=concurrency):
                for handle in handles:
                    await handle.result(timeout=3600)

        return await timed(runs, go)


def agents(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Each of --repeat rounds runs plain and every concurrency once, the order turned round each time, so that
    a change in the machine's load weighs on every side: medians, and each ratio the median of its rounds'."""
    sides = ["plain", *(f"stead_{c}" for c in args.concurrency)]
    rounds: list[dict[str, float]] = []
    loads: list[str] = []
    with model_env(args.model, args.latency):
        for number in range(args.repeat):
            figures: dict[str, float] = {}
            for side in sides if number % 2 == 0 else sides[::-1]:
                if side == "plain":
                    figures[side] = asyncio.run(plain(args.runs, lambda: tool_agent(_settings["model"])))
                else:
                    concurrency = int(side.removeprefix("stead_"))
                    url = f"sqlite:///{directory}/agents-{concurrency}-{number}.db"
                    figures[side] = asyncio.run(durable(url, tools_run, args.runs, concurrency))
            rounds.append(figures)
            loads.append(load().removeprefix("load average "))
    out: dict[str, Any] = {"runs": args.runs, "latency": args.latency, "model": args.model, "rounds": rounds}
    for side in sides:
        out[side] = statistics.median(r[side] for r in rounds)
        if side != "plain":
            out[f"ratio_{side}"] = statistics.median(r[side] / r["plain"] for r in rounds)
    out["load"] = "load average " + " | ".join(loads)
    return out


def report_agents(f: dict[str, Any]) -> None:
    rounds = len(f["rounds"])
    print(
        f"{f['runs']} concurrent tool-agent runs, {f['latency'] * 1000:.0f} ms {f['model']} model, {f['load']}"
        + (f" (medians of {rounds} rounds)" if rounds > 1 else "")
    )
    print(f"  plain Runner.run (asyncio.gather): {f['plain']:.1f} runs/s")
    for key, value in f.items():
        if key.startswith("stead_"):
            ratio = f[f"ratio_{key}"]
            print(f"  stead, one worker, concurrency {key[6:]}: {value:.1f} runs/s ({ratio:.2f}x)")


def spawn_worker(url: str, concurrency: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "_worker", url, "--concurrency", str(concurrency)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "READY":
        process.kill()
        raise RuntimeError(f"a worker did not start: {line!r}")
    return process


def stop_workers(processes: list[subprocess.Popen[str]]) -> list[int]:
    for p in processes:
        p.send_signal(signal.SIGTERM)
    done = []
    for p in processes:
        out, _ = p.communicate(timeout=120)
        done.append(int(json.loads(out.strip().splitlines()[-1])["completed"]))
    return done


async def serve(url: str, concurrency: int) -> None:
    """A worker process (``_worker``): serves until SIGTERM, then says how many runs it completed."""
    urls = url.split(" ")
    engines = [stead.connect(u) for u in urls]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        workers = [
            await stack.enter_async_context(e.worker(WORKFLOWS, concurrency=concurrency)) for e in engines
        ]
        print("READY", flush=True)
        await stop.wait()
        completed = sum(s == "completed" for s in workers[0].finished.values())
    for e in engines:
        await e.close()
    print(json.dumps({"completed": completed}), flush=True)


async def drive(url: str, runs: int) -> float:
    """Start the runs from this process and wait for all of them (the workers are other processes)."""
    async with stead.connect(url) as engine:

        async def go() -> None:
            handles = [
                await engine.start(tools_run, i, run_id=f"r{i}-{uuid.uuid4().hex[:6]}") for i in range(runs)
            ]
            for handle in handles:
                await handle.result(timeout=3600)

        return await timed(runs, go)


def workers(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"runs": args.runs, "latency": args.latency, "model": "http"}
    with model_env("http", args.latency):
        for n in args.workers:
            url = f"sqlite:///{directory}/workers-{n}.db"
            stead.connect(url)  # the file made before the workers open it
            processes = [spawn_worker(url, args.concurrency) for _ in range(n)]
            try:
                rate = asyncio.run(drive(url, args.runs))
            finally:
                shares = stop_workers(processes)
            figures[f"{n}"] = {"runs_per_s": rate, "shares": shares}
    figures["load"] = load()
    return figures


def temporal(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from stead.engines.temporal import free_port, start_dev_server

    figures: dict[str, Any] = {"runs": args.runs, "latency": args.latency, "model": "http"}
    server = start_dev_server(port=free_port(), headless=True, db_file=None, log_level="error")
    try:
        with model_env("http", args.latency):
            for n in args.workers:
                queue = f"scale-{uuid.uuid4().hex[:6]}"
                url = (
                    f"temporal://{server.address}?task_queue={queue}&route.model%3ATools={queue}-tools-model"
                )
                model_url = f"temporal://{server.address}?task_queue={queue}-tools-model"
                processes = [spawn_worker(f"{url} {model_url}", args.concurrency) for _ in range(n)]
                try:
                    rate = asyncio.run(drive(url, args.runs))
                finally:
                    shares = stop_workers(processes)
                figures[f"{n}"] = {"runs_per_s": rate, "shares": shares}
    finally:
        server.stop()
    figures["load"] = load()
    return figures


def report_workers(f: dict[str, Any], where: str) -> None:
    print(f"{f['runs']} tool-agent runs, {f['latency'] * 1000:.0f} ms model over HTTP, {where}, {f['load']}")
    for key, value in f.items():
        if isinstance(value, dict):
            total = sum(value["shares"]) or 1
            shares = " / ".join(f"{100 * s / total:.0f} %" for s in value["shares"])
            print(f"  {key} worker(s): {value['runs_per_s']:.1f} runs/s, share per worker {shares}")


def shared(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"runs": args.runs, "latency": args.latency}
    shared_agent.model = LocalModel(args.latency)
    _settings["model"] = LocalModel(args.latency)
    figures["plain_shared"] = asyncio.run(plain(args.runs, lambda: shared_agent))
    figures["plain_per_run"] = asyncio.run(plain(args.runs, lambda: tool_agent(_settings["model"])))
    for name, workflow in (("shared", shared_run), ("per_run", tools_run)):
        url = f"sqlite:///{directory}/shared-{name}.db"
        figures[f"stead_{name}"] = asyncio.run(durable(url, workflow, args.runs, args.concurrency[0]))
    figures["load"] = load()
    return figures


def report_shared(f: dict[str, Any]) -> None:
    print(f"{f['runs']} concurrent tool-agent runs, {f['latency'] * 1000:.0f} ms local model, {f['load']}")
    for side in ("plain", "stead"):
        one, each = f[f"{side}_shared"], f[f"{side}_per_run"]
        print(
            f"  {side}: one shared Agent {one:.1f} runs/s, an Agent per run {each:.1f} runs/s ({one / each:.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", choices=["waiting", "agents", "workers", "temporal", "shared", "_worker"])
    parser.add_argument("url", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=None, help="10,000 for waiting, 1,000 for the others")
    parser.add_argument("--wait", choices=["approval", "message"], default="approval")
    parser.add_argument("--resume", type=int, default=20, help="waiting: runs resumed one at a time")
    parser.add_argument("--suspend", type=float, default=None, help="waiting: the engine's suspend option")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the model takes per call")
    parser.add_argument("--model", choices=["http", "local"], default="http")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100],
        help="worker concurrency (agents: a list, e.g. 100,1000)",
    )
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--repeat", type=int, default=1, help="agents: rounds of every side, medians")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.workload == "_worker":
        asyncio.run(serve(args.url, args.concurrency[0]))
        return
    if args.runs is None:
        args.runs = 10_000 if args.workload == "waiting" else 1_000
    if args.workers is None:
        args.workers = [1, 2] if args.workload == "temporal" else [1, 2, 3]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.workload == "waiting":
            args.concurrency = args.concurrency[0]
            figures = asyncio.run(waiting(args, directory))
        elif args.workload == "agents":
            figures = agents(args, directory)
        elif args.workload == "workers":
            args.concurrency = args.concurrency[0]
            figures = workers(args, directory)
        elif args.workload == "temporal":
            args.concurrency = args.concurrency[0]
            figures = temporal(args, directory)
        else:
            figures = shared(args, directory)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    if args.workload == "waiting":
        report_waiting(figures)
    elif args.workload == "agents":
        report_agents(figures)
    elif args.workload in ("workers", "temporal"):
        report_workers(figures, "one SQLite file" if args.workload == "workers" else "Temporal dev server")
    else:
        report_shared(figures)


if __name__ == "__main__":
    main()
