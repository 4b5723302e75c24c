"""The dashboard in a real headless Chromium: page-ready time of a run of many steps, and token latency.

    python benchmarks/bench_ui_browser.py [--steps 1000] [--tokens 200] [--json]

Needs the ui extra, Playwright and Debian's chromium (STEAD_CHROMIUM to point elsewhere). Two figures:

- page ready: from navigation to a run page of --steps steps until its timeline shows every step: the first
  load, and the median of --repeat loads after it;
- token latency: a worker process (``stead worker``, another process than the dashboard, as in production) runs a
  step that emits --tokens text events, each carrying the wall-clock time it was emitted at; the run page's event
  stream receives them in the browser, which records when each arrived. The latency is the arrival time minus
  the emit time (one machine, one clock): the way from where the model adapter hands a provider's delta to stead
  (``stead.emit``) through the journal, the dashboard's server and SSE into the page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import stead

HERE = Path(__file__).resolve()
CHROMIUM = os.environ.get("STEAD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Records when each message of the page's event stream arrived, before the page's own handlers see it.
RECORD_EVENTS = """
window.__arrivals = [];
window.__streamOpen = false;
const Original = window.EventSource;
window.EventSource = class extends Original {
  constructor(url, options) {
    super(url, options);
    this.addEventListener("open", () => { window.__streamOpen = true; });
    this.addEventListener("message", (e) => {
      window.__arrivals.push([performance.timeOrigin + performance.now(), e.data]);
    });
  }
};
"""


@stead.step
async def one(n: int) -> int:
    return n + 1


@stead.workflow
async def many_steps(steps: int) -> int:
    total = 0
    for _ in range(steps):
        total = await one(total)
    return total


@stead.step
async def stream_tokens(count: int, gap: float) -> int:
    for _ in range(count):
        stead.emit("text", f"{time.time():.6f} ")
        await asyncio.sleep(gap)
    return count


@stead.workflow
async def ticker(count: int, gap: float) -> int:
    await stead.wait_for("go")
    return await stream_tokens(count, gap)


async def page_ready(page: Any, url: str, steps: int, repeat: int) -> tuple[float, float]:
    """The first load (the server reads the journal) and the median of the next ones (it kept the page data of
    the finished run)."""
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        await page.goto(url)
        await page.locator("#timeline .bar").nth(steps - 1).wait_for(state="attached", timeout=60_000)
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times[1:])


async def token_latency(page: Any, engine: stead.Engine, base: str, url: str, count: int) -> list[float]:
    handle = await engine.start(ticker, count, 0.01)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stead.cli",
        "worker",
        str(HERE),
        "--engine",
        url,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        await engine.wait(handle.run_id, timeout=120, until="waiting")
        await page.goto(f"{base}/runs/{handle.run_id}")
        await page.wait_for_function("window.__streamOpen === true", timeout=30_000)
        await engine.send(handle.run_id, "go", None)
        await handle.result(timeout=120)
        await page.wait_for_function(
            f"window.__arrivals.filter((a) => a[1].includes('\"text\"')).length >= {count}", timeout=60_000
        )
        arrivals: list[list[Any]] = await page.evaluate("window.__arrivals")
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
    latencies = []
    for arrived_ms, data in arrivals:
        event = json.loads(data)
        if event.get("kind") == "text":
            latencies.append(arrived_ms - float(str(event["data"]).strip()) * 1000)
    return latencies


async def main(steps: int, tokens: int, repeat: int) -> dict[str, float]:
    from playwright.async_api import async_playwright

    from stead.ui import Server

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        async with stead.connect(url) as engine:
            long_run = await engine.start(many_steps, steps)
            async with engine.worker([many_steps]):
                await long_run.result(timeout=600)
            async with Server(engine, port=0) as server, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1360, "height": 900})
                    await page.add_init_script(RECORD_EVENTS)
                    cold, warm = await page_ready(page, f"{server.url}/runs/{long_run.run_id}", steps, repeat)
                    figures = {"page_ready_first_ms": cold, "page_ready_ms": warm, "page_steps": float(steps)}
                    latencies = await token_latency(page, engine, server.url, url, tokens)
                finally:
                    await browser.close()
    latencies.sort()
    figures["tokens"] = float(len(latencies))
    figures["token_latency_median_ms"] = statistics.median(latencies)
    figures["token_latency_p95_ms"] = latencies[int(len(latencies) * 0.95) - 1]
    figures["token_latency_max_ms"] = latencies[-1]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = asyncio.run(main(options.steps, options.tokens, options.repeat))
    if options.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:>26}: {value:,.1f}")
