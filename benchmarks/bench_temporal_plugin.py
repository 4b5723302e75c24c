"""stead on Temporal beside Temporal's own OpenAI Agents integration, on one dev server, the same agents.

    python benchmarks/bench_temporal_plugin.py [--runs 50] [--concurrent 500] [--repeat 1] [--json]
        [--stead-options 'heartbeat=60&sticky_timeout=10&task_timeout=10']

The plugin (PyPI ``temporalio-openai-agents``) pins an older openai-agents than stead, so its side runs in a venv
of its own, made once under ``.bench/plugin-venv`` (``--venv``) with pip, by ``benchmarks/plugin_side.py``. Both
sides talk to the same Temporal dev server and to fake OpenAI servers (``python -m stead.testing.fake_openai``,
separate processes, so that neither side's worker shares its interpreter with the model). Workloads, one side
after the other, each with a warm worker in the process of its client:

* hello: an agent with one model call, --runs runs one after the other (runs/s);
* tool: model -> two tool calls -> model, --runs runs one after the other (runs/s);
* concurrent: --concurrent tool-agent runs started at once against a model answering in 200 ms (wall seconds).

With ``--repeat N`` each workload runs N times on each side, the sides taking turns to go first, so that a change
in the machine's load between them weighs on both: the figures are the medians, the ratio the median of the
ratios of each pair. Beside the time, the CPU each side's process (worker and client) and the dev server used
per run, which other jobs on the machine change less than the time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent, Runner, function_tool  # noqa: E402

import stead  # noqa: E402
from stead.engines.temporal import free_port, start_dev_server  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from _cpu import Meter  # noqa: E402
from _fake import fake_server_process  # noqa: E402

PLUGIN = "temporalio-openai-agents==1.1.0"


@function_tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


@stead.workflow
async def hello_agent(prompt: str) -> str:
    agent = Agent(name="Hello", instructions="Greet.", model="gpt-4o-mini")
    return str((await Runner.run(agent, prompt)).final_output)


@stead.workflow
async def tool_agent(prompt: str) -> str:
    agent = Agent(name="Tools", instructions="Use tools.", model="gpt-4o-mini", tools=[lookup])
    return str((await Runner.run(agent, prompt)).final_output)


def script(delay: float) -> dict[str, Any]:
    """The fake model: the tool agent asks for two lookups, then answers; any other agent says hello."""
    slow = {"delay": delay} if delay else {}
    calls = [{"name": "lookup", "arguments": {"key": k}} for k in ("a", "b")]
    return {
        "rules": [
            {
                "match": {"instructions_contains": "Use tools", "has_tool_output": False},
                "reply": {"tool_calls": calls, **slow},
            },
            {"match": {"has_tool_output": True}, "reply": {"text": "a and b looked up", **slow}},
        ],
        "default": {"text": "Hello!", **slow},
    }


def fake_model(delay: float) -> tuple[subprocess.Popen[str], str]:
    return fake_server_process(script(delay))


def plugin_python(venv: Path) -> Path:
    """The plugin venv's interpreter, the venv made (once) with the plugin installed from PyPI."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} with {PLUGIN} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PLUGIN], check=True)
    return python


def run_plugin(
    python: Path, address: str, base_url: str, workload: str, runs: int, server_pid: int | None
) -> dict[str, Any]:
    pid = [] if server_pid is None else ["--server-pid", str(server_pid)]
    out = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "plugin_side.py"), "--address", address]
        + ["--workload", workload, "--runs", str(runs), *pid],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench", "PYTHONPATH": ""},
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the plugin side failed:\n{out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


async def run_stead(
    address: str,
    base_url: str,
    workload: str,
    runs: int,
    server_pid: int | None = None,
    options: str = "",
) -> dict[str, Any]:
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "bench"
    os.environ["STEAD_OPENAI_API"] = (
        "responses"  # the plugin's default API (stead's, for a base URL, is chat)
    )
    wf = hello_agent if workload == "hello" else tool_agent
    extra = f"&{options}" if options else ""
    engine = stead.connect(f"temporal://{address}?task_queue=stead-{uuid.uuid4().hex[:8]}{extra}")
    try:
        async with engine.worker([hello_agent, tool_agent]):

            async def one(i: int) -> str:
                return str(await (await engine.start(wf, f"hi {i}")).result(timeout=600))

            await one(-1)  # warm: the worker polls, the program is loaded
            meter = Meter(server_pid)
            started = time.perf_counter()
            if workload == "concurrent":
                await asyncio.gather(*(one(i) for i in range(runs)))
            else:
                for i in range(runs):
                    await one(i)
            seconds = time.perf_counter() - started
            return {"runs": runs, "seconds": seconds, **meter.used()}
    finally:
        await engine.close()


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def main(args: argparse.Namespace) -> dict[str, Any]:
    python = plugin_python(args.venv)
    server = start_dev_server(port=free_port(), headless=True, db_file=None, log_level="error")
    server_pid = server.process.pid if server.process is not None else None
    quick, quick_url = fake_model(0.0)
    slow, slow_url = fake_model(0.2)
    figures: dict[str, Any] = {}
    try:
        for workload, runs, url in (
            ("hello", args.runs, quick_url),
            ("tool", args.runs, quick_url),
            ("concurrent", args.concurrent, slow_url),
        ):
            if runs <= 0:
                continue
            pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for turn in range(args.repeat):
                theirs = None
                if turn % 2 == 1:  # every other turn the plugin goes first
                    theirs = run_plugin(python, server.address, url, workload, runs, server_pid)
                ours = asyncio.run(
                    run_stead(server.address, url, workload, runs, server_pid, args.stead_options)
                )
                if theirs is None:
                    theirs = run_plugin(python, server.address, url, workload, runs, server_pid)
                pairs.append((ours, theirs))
            figures[workload] = {
                "runs": runs,
                "repeat": args.repeat,
                "ratio": statistics.median(t["seconds"] / o["seconds"] for o, t in pairs),
                **{
                    f"{side}_{key}": _median([pair[index][field] for pair in pairs])
                    for index, side in enumerate(("stead", "plugin"))
                    for key, field in (("s", "seconds"), ("cpu", "cpu"), ("server_cpu", "server_cpu"))
                },
            }
    finally:
        for process in (quick, slow):
            process.terminate()
            process.wait(10)
        server.stop()
    return figures


def _per_run(f: dict[str, Any], key: str) -> str:
    ours, theirs = f[f"stead_{key}"], f[f"plugin_{key}"]
    if ours is None or theirs is None:
        return "?"
    return f"{ours / f['runs'] * 1000:.0f} / {theirs / f['runs'] * 1000:.0f}"


def report(figures: dict[str, Any]) -> None:
    print(
        f"{'workload':<44} {'stead':>12} {'plugin':>12} {'stead/plugin':>13}"
        f" {'cpu ms/run':>12} {'server cpu':>11}"
    )
    for workload, f in figures.items():
        if workload == "concurrent":
            label = f"{f['runs']} concurrent tool-agent runs, 200 ms model"
            ours, theirs = f"{f['stead_s']:.1f} s", f"{f['plugin_s']:.1f} s"
        else:
            label = f"{workload} agent, {f['runs']} sequential runs"
            ours, theirs = f"{f['runs'] / f['stead_s']:.2f} runs/s", f"{f['runs'] / f['plugin_s']:.2f} runs/s"
        # As a speed ratio: above 1 means stead is faster.
        print(
            f"{label:<44} {ours:>12} {theirs:>12} {f['ratio']:>12.2f}x"
            f" {_per_run(f, 'cpu'):>12} {_per_run(f, 'server_cpu'):>11}"
        )
    repeat = max((f["repeat"] for f in figures.values()), default=1)
    print(
        f"(medians of {repeat} turns each; cpu: the side's process, worker and client; server cpu: the dev "
        "server's, while that side ran; both stead / plugin)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50, help="sequential runs per workload (0 skips them)")
    parser.add_argument(
        "--concurrent", type=int, default=500, help="concurrent tool-agent runs (0 skips them)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="turns of each workload on each side")
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench" / "plugin-venv")
    parser.add_argument(
        "--stead-options",
        default="",
        help="more options of stead's engine URL, e.g. 'heartbeat=60&sticky_timeout=10&task_timeout=10'",
    )
    parser.add_argument("--json", action="store_true")
    parsed = parser.parse_args()
    result = main(parsed)
    if parsed.json:
        print(json.dumps(result))
    else:
        report(result)
