"""stead on Temporal beside Temporal's own OpenAI Agents integration, on one dev server, the same agents.

    python benchmarks/bench_temporal_plugin.py [--runs 50] [--concurrent 500] [--json]

The plugin (PyPI ``temporalio-openai-agents``) pins an older openai-agents than stead, so its side runs in a venv
of its own, made once under ``.bench/plugin-venv`` (``--venv``) with pip, by ``benchmarks/plugin_side.py``. Both
sides talk to the same Temporal dev server and to fake OpenAI servers (``python -m stead.testing.fake_openai``,
separate processes, so that neither side's worker shares its interpreter with the model). Workloads, one side
after the other, each with a warm worker in the process of its client:

* hello: an agent with one model call, --runs runs one after the other (runs/s);
* tool: model -> two tool calls -> model, --runs runs one after the other (runs/s);
* concurrent: --concurrent tool-agent runs started at once against a model answering in 200 ms (wall seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
    process = subprocess.Popen(
        [sys.executable, "-m", "stead.testing.fake_openai", "--script-json", json.dumps(script(delay))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the fake OpenAI server did not start: {line!r}")
    return process, line.split()[1]


def plugin_python(venv: Path) -> Path:
    """The plugin venv's interpreter, the venv made (once) with the plugin installed from PyPI."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} with {PLUGIN} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PLUGIN], check=True)
    return python


def run_plugin(python: Path, address: str, base_url: str, workload: str, runs: int) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "plugin_side.py"), "--address", address]
        + ["--workload", workload, "--runs", str(runs)],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench", "PYTHONPATH": ""},
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the plugin side failed:\n{out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


async def run_stead(address: str, base_url: str, workload: str, runs: int) -> dict[str, Any]:
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "bench"
    os.environ["STEAD_OPENAI_API"] = (
        "responses"  # the plugin's default API (stead's, for a base URL, is chat)
    )
    wf = hello_agent if workload == "hello" else tool_agent
    engine = stead.connect(f"temporal://{address}?task_queue=stead-{uuid.uuid4().hex[:8]}")
    try:
        async with engine.worker([hello_agent, tool_agent]):

            async def one(i: int) -> str:
                return str(await (await engine.start(wf, f"hi {i}")).result(timeout=600))

            await one(-1)  # warm: the worker polls, the program is loaded
            started = time.perf_counter()
            if workload == "concurrent":
                await asyncio.gather(*(one(i) for i in range(runs)))
            else:
                for i in range(runs):
                    await one(i)
            return {"runs": runs, "seconds": time.perf_counter() - started}
    finally:
        await engine.close()


def main(args: argparse.Namespace) -> dict[str, Any]:
    python = plugin_python(args.venv)
    server = start_dev_server(port=free_port(), headless=True, db_file=None, log_level="error")
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
            ours = asyncio.run(run_stead(server.address, url, workload, runs))
            theirs = run_plugin(python, server.address, url, workload, runs)
            figures[workload] = {"runs": runs, "stead_s": ours["seconds"], "plugin_s": theirs["seconds"]}
    finally:
        for process in (quick, slow):
            process.terminate()
            process.wait(10)
        server.stop()
    return figures


def report(figures: dict[str, Any]) -> None:
    print(f"{'workload':<40} {'stead':>12} {'plugin':>12} {'stead/plugin':>13}")
    for workload, f in figures.items():
        if workload == "concurrent":
            label = f"{f['runs']} concurrent tool-agent runs, 200 ms model"
            ours, theirs = f"{f['stead_s']:.1f} s", f"{f['plugin_s']:.1f} s"
        else:
            label = f"{workload} agent, {f['runs']} sequential runs"
            ours, theirs = f"{f['runs'] / f['stead_s']:.2f} runs/s", f"{f['runs'] / f['plugin_s']:.2f} runs/s"
        # As a speed ratio: above 1 means stead is faster.
        print(f"{label:<40} {ours:>12} {theirs:>12} {f['plugin_s'] / f['stead_s']:>12.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50, help="sequential runs per workload (0 skips them)")
    parser.add_argument(
        "--concurrent", type=int, default=500, help="concurrent tool-agent runs (0 skips them)"
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench" / "plugin-venv")
    parser.add_argument("--json", action="store_true")
    parsed = parser.parse_args()
    result = main(parsed)
    if parsed.json:
        print(json.dumps(result))
    else:
        report(result)
