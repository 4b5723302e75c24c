"""The chaos suite: N runs of an agent workflow (a handoff, two parallel tools, a plain step) on worker processes
that are SIGKILLed at random, against a fake OpenAI server answering with storms of faults; on SQLite also a full
disk and a file locked by another process beyond the busy timeout, on Temporal also a killed and restarted server.

    python benchmarks/chaos.py --engine sqlite --runs 100
    python benchmarks/chaos.py --engine temporal --runs 100

It checks, from the side-effect logs and the journal, that every run completed with the result of the same agent
under plain ``Runner.run`` and that no step whose result was journaled ran again, and prints a figures table
(``--json``: the figures as one JSON object on the last line). Exit 0 only when both hold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chaos_app  # noqa: E402

import stead  # noqa: E402
from stead.testing import Drop, DropMidStream, FakeOpenAIServer, FakeRequest, Fault, ReplyLike, Slow  # noqa: E402

FAULTS = ("429", "5xx", "stall", "drop", "kill", "disk-full", "lock", "server-kill")
ENGINE_FAULTS = {"sqlite": {"disk-full", "lock"}, "temporal": {"server-kill"}}
BUSY_TIMEOUT = 2.0  # seconds; the lock case holds the file longer than this


@dataclass
class Figures:
    engine: str
    runs: int
    completed: int = 0
    wrong: list[str] = field(default_factory=list)
    kills: int = 0
    server_kills: int = 0
    disk_full: int = 0
    locks: int = 0
    write_errors_logged: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    repeated: list[str] = field(default_factory=list)
    reexecuted_unjournaled: int = 0
    most_lost: int = 0
    """The most attempts of one step lost with their worker (they do not use up its retry budget)."""
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def ok(self) -> bool:
        return self.completed == self.runs and not self.repeated and not self.wrong

    def table(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        rows = [
            ("engine", self.engine),
            ("runs", str(self.runs)),
            ("completed with the plain-Runner result", f"{self.completed}"),
            ("worker kills (kill -9)", str(self.kills)),
            (
                "model faults injected",
                f"{sum(self.faults.values())} ({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items()))})",
            ),
        ]
        if self.engine == "sqlite":
            rows += [
                ("disk-full windows / outside write locks", f"{self.disk_full} / {self.locks}"),
                ("write errors waited out (worker log lines)", str(self.write_errors_logged)),
            ]
        else:
            rows += [("dev server kills (kill -9, restart)", str(self.server_kills))]
        rows += [
            ("repeated journaled steps", str(len(self.repeated))),
            (
                "attempts before a step's journaled result (retries, killed attempts)",
                str(self.reexecuted_unjournaled),
            ),
            ("most attempts of one step lost with their worker", str(self.most_lost)),
            ("wall time", f"{self.wall:.1f} s"),
            ("run latency p50 / p95", f"{statistics.median(lat):.1f} / {p95:.1f} s"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'what'.ljust(width)} | figure |", f"|{'-' * (width + 2)}|---|"]
        lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "runs": self.runs,
            "completed": self.completed,
            "wrong": self.wrong,
            "kills": self.kills,
            "server_kills": self.server_kills,
            "disk_full": self.disk_full,
            "locks": self.locks,
            "write_errors_logged": self.write_errors_logged,
            "faults": dict(self.faults),
            "repeated": self.repeated,
            "most_lost": self.most_lost,
            "wall": round(self.wall, 2),
            "latencies": [round(x, 2) for x in self.latencies],
        }


class Model:
    """The fake model's answers, with a fault instead of the answer at the given rate; records every request's
    step key and arrival time (wall clock, as the journal's)."""

    def __init__(self, faults: set[str], rate: float, rng: random.Random) -> None:
        self.kinds = [f for f in ("429", "5xx", "stall", "drop") if f in faults]
        self.rate, self.rng, self.on = rate, rng, False
        self.injected: Counter[str] = Counter()
        self.arrivals: list[tuple[tuple[str, str, int], float]] = []
        self.lock = threading.Lock()

    def __call__(self, request: FakeRequest) -> ReplyLike:
        reply = chaos_app.answer(request)
        with self.lock:
            self.arrivals.append((chaos_app.turn(request), time.time()))
            if not (self.on and self.kinds and self.rng.random() < self.rate):
                return reply
            kind = self.rng.choice(self.kinds)
            self.injected[kind] += 1
        if kind == "429":
            return Fault(429, headers={"Retry-After": "1"})
        if kind == "5xx":
            return Fault(self.rng.choice([500, 502, 503]))
        if kind == "stall":
            return Slow(self.rng.uniform(1.0, 4.0), reply)
        drops: list[ReplyLike] = [Drop(), DropMidStream(1, reply)]
        return self.rng.choice(drops)


class Workers:
    """Worker processes (`stead worker`); their output goes to log files through pipes
    (a pipe is not limited by the disk-full case's file-size limit)."""

    def __init__(self, url: str, env: dict[str, str], logs: Path, concurrency: int) -> None:
        self.url, self.env, self.logs, self.concurrency = url, env, logs, concurrency
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self.write_errors = 0
        self.ready: dict[int, float] = {}
        """pid -> when the worker said it serves."""
        self._lock = threading.Lock()

    def spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        cmd = [sys.executable, "-m", "stead.cli", "--engine", self.url, "worker", str(HERE / "chaos_app.py")]
        proc = subprocess.Popen(
            [*cmd, "--concurrency", str(self.concurrency)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
        )  # in this process's group: whoever kills the suite's group kills its workers too
        log = self.logs / f"worker-{self.started}.log"
        threading.Thread(target=self._drain, args=(proc, log), daemon=True).start()
        self.procs.append(proc)
        return proc

    def _drain(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        assert proc.stdout is not None
        with log.open("wb") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if b"serving" in line:
                    self.ready[proc.pid] = time.monotonic()
                if b"cannot write" in line:
                    with self._lock:
                        self.write_errors += 1

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def serving(self, for_at_least: float = 0.0) -> list[subprocess.Popen[bytes]]:
        """The live workers that have served for a while (killing one still importing would test nothing)."""
        since = time.monotonic() - for_at_least
        return [p for p in self.alive() if self.ready.get(p.pid, since + 1) <= since]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()  # SIGKILL: no cleanup runs in the worker
        proc.wait()

    def stop(self) -> None:
        for proc in self.alive():
            self.kill(proc)


class Server:
    """A Temporal dev server on a persistent db file, so that what it knew survives its kill and restart."""

    def __init__(self, workdir: Path) -> None:
        from stead.engines.temporal import free_port

        self.port, self.db = free_port(), str(workdir / "temporal.db")
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        from stead.engines.temporal import start_dev_server

        for attempt in range(5):  # a loaded machine may take longer than the start's own readiness wait
            try:
                dev = await asyncio.to_thread(
                    start_dev_server, port=self.port, db_file=self.db, headless=True, log_level="error"
                )
            except stead.EngineUnavailable:
                if attempt == 4:
                    raise
                continue
            self.proc = dev.process
            return

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def hold_lock(db: Path, seconds: float) -> None:
    """Another process takes the file's write lock and keeps it beyond the workers' busy timeout."""
    code = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
        "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2])); c.execute('COMMIT')\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(db), str(seconds), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    await proc.stdout.readline()
    await proc.wait()


async def disk_full(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """The worker's disk is full: no file it writes may grow past 4 KB (its journal's WAL can no longer grow;
    the side-effect logs stay below), then room again."""
    try:
        _, hard = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (4096, hard))
        await asyncio.sleep(seconds)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
    except ProcessLookupError:
        pass  # killed meanwhile


async def chaos_loop(
    args: argparse.Namespace,
    faults: set[str],
    workers: Workers,
    server: Server | None,
    db: Path | None,
    figures: Figures,
    done: asyncio.Event,
    rng: random.Random,
) -> None:
    low, high = args.kill_interval
    background: set[asyncio.Task[None]] = set()
    # The event at which each rarer fault is due; it happens at the first event from then on where it can.
    due = {"server-kill": 4, "disk-full": 2, "lock": 6}
    every = args.rare_every
    events = 0

    def later(coro: Any) -> None:
        task = asyncio.create_task(coro)
        background.add(task)
        task.add_done_callback(background.discard)

    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), rng.uniform(low, high))
            break
        except TimeoutError:
            pass
        events += 1
        alive = workers.serving(args.min_serve)
        if "server-kill" in faults and server is not None and events >= due["server-kill"]:
            due["server-kill"] = events + every
            server.kill()
            figures.server_kills += 1
            await server.start()
        elif "disk-full" in faults and db is not None and events >= due["disk-full"] and alive:
            due["disk-full"] = events + every
            figures.disk_full += 1
            later(disk_full(rng.choice(alive), 3.0))
        elif "lock" in faults and db is not None and events >= due["lock"]:
            due["lock"] = events + every
            figures.locks += 1
            later(hold_lock(db, BUSY_TIMEOUT + 2.0))
        elif "kill" in faults and len(alive) >= 2:  # one that serves is spared: a start takes seconds here
            workers.kill(rng.choice(alive))
            figures.kills += 1
        while len(workers.alive()) < args.workers:
            workers.spawn()
        if args.hold and not args.hold.exists() and held_faults_done(faults, figures):
            args.hold.touch()
    await asyncio.gather(*background)


def held_faults_done(faults: set[str], figures: Figures) -> bool:
    """Whether each chaos fault of the run (``--hold``) happened at least once."""
    seen = {
        "kill": figures.kills,
        "disk-full": figures.disk_full,
        "lock": figures.locks,
        "server-kill": figures.server_kills,
    }
    return all(count > 0 for kind, count in seen.items() if kind in faults)


async def get_retrying(engine: stead.Engine, run_id: str) -> stead.RunInfo:
    """The engine's view of a run; a Temporal server being restarted is waited for."""
    for _ in range(600):
        try:
            return await engine.get(run_id)
        except stead.RunNotFound:
            raise
        except Exception:  # the server is down for a moment
            await asyncio.sleep(0.5)
    return await engine.get(run_id)


def read_effects(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def check(
    engine: stead.Engine,
    run_ids: dict[str, str],
    oracle: dict[str, str],
    model: Model,
    effects: Path,
    figures: Figures,
) -> None:
    arrivals: dict[tuple[str, str, int], list[float]] = {}
    for key, t in model.arrivals:
        arrivals.setdefault(key, []).append(t)
    for run_id, city in run_ids.items():
        info = await get_retrying(engine, run_id)
        if info.status != "completed":
            figures.wrong.append(f"{run_id}: {info.status} {info.error}")
            continue
        if info.result != oracle[city]:
            figures.wrong.append(f"{run_id}: {info.result!r} != {oracle[city]!r}")
            continue
        figures.completed += 1
        if info.finished_at is not None:
            figures.latencies.append((info.finished_at - info.created_at).total_seconds())
        steps = [s for s in await engine.steps(run_id) if s.status == "done" and s.finished_at is not None]
        starts: dict[str, list[float]] = {}
        for e in read_effects(effects / f"{run_id}.log"):
            if e["event"] == "start":
                starts.setdefault(e["key"], []).append(e["t"])
        phases: Counter[str] = Counter()
        for step in steps:
            figures.most_lost = max(figures.most_lost, step.attempts - 1 - len(step.attempt_errors))
        for step in sorted(steps, key=lambda s: s.started_at):
            assert step.finished_at is not None
            journaled = step.finished_at.timestamp()
            if step.kind == "model":
                agent = step.attributes.agent or "?"
                times = arrivals.get((run_id, agent, phases[agent]), [])
                phases[agent] += 1
                what = f"model {agent}"
            elif step.kind == "tool" and step.attributes.call_id:
                times, what = starts.get(step.attributes.call_id, []), f"tool {step.attributes.tool}"
            elif "file_report" in step.name:
                times, what = starts.get("file_report", []), "step file_report"
            else:
                continue
            figures.reexecuted_unjournaled += max(0, sum(1 for t in times if t <= journaled) - 1)
            figures.repeated += [f"{run_id} {step.position} {what}" for t in times if t > journaled]


async def main(args: argparse.Namespace) -> int:
    faults = set(args.faults) & (set(FAULTS[:5]) | ENGINE_FAULTS[args.engine])
    rng = random.Random(args.seed)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="stead-chaos-"))
    effects, logs = workdir / "effects", workdir / "logs"
    effects.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    os.environ["CHAOS_EFFECTS"] = str(effects)
    if args.hold:
        args.hold = workdir / "faults-done"
        os.environ["CHAOS_HOLD"] = str(args.hold)
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # no exporter may reach out to OpenAI

    model = Model(faults, args.fault_rate, rng)
    fake = FakeOpenAIServer(model).start()
    os.environ.update(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="chaos")
    oracle = {city: await chaos_app.plain(city) for city in chaos_app.CITIES}  # no faults yet
    model.on = True

    server: Server | None = None
    db: Path | None = None
    if args.engine == "sqlite":
        db = workdir / "stead.db"
        url = f"sqlite:///{db}?busy_timeout={BUSY_TIMEOUT:g}"
    else:
        server = Server(workdir)
        await server.start()
        url = f"temporal://127.0.0.1:{server.port}?namespace=default&task_queue=chaos"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent / "src"), env.get("PYTHONPATH")) if p)
    workers = Workers(url, env, logs, args.concurrency)
    figures = Figures(args.engine, args.runs)
    engine = stead.connect(url)
    started = time.monotonic()
    try:
        for _ in range(args.workers):
            workers.spawn()
        run_ids = {f"chaos-{i}": chaos_app.CITIES[i % len(chaos_app.CITIES)] for i in range(args.runs)}
        for run_id, city in run_ids.items():
            await engine.start(chaos_app.chaos, run_id, city, run_id=run_id)
        done = asyncio.Event()
        chaos = asyncio.create_task(chaos_loop(args, faults, workers, server, db, figures, done, rng))
        pending = set(run_ids)
        deadline = started + args.seconds
        while pending and time.monotonic() < deadline and not chaos.done():
            for run_id in list(pending):
                if (await get_retrying(engine, run_id)).status.finished:
                    pending.discard(run_id)
            await asyncio.sleep(0.5)
        done.set()
        await chaos
        figures.wall = time.monotonic() - started
        workers.stop()
        figures.faults = model.injected
        figures.write_errors_logged = workers.write_errors
        await check(engine, run_ids, oracle, model, effects, figures)
    finally:
        workers.stop()
        await engine.close()
        if server is not None:
            server.kill()
        fake.stop()
    print(figures.table())
    for line in (figures.wrong + figures.repeated)[:20]:
        print("  " + line)
    print(f"(work files: {workdir})")
    if args.json:
        print(json.dumps(figures.to_json()))
    return 0 if figures.ok() else 1


def interval(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use MIN,MAX seconds, e.g. 0.5,3") from None
    if not 0 < pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: use 0 < MIN <= MAX")
    return pair


def fault_list(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault(s) {', '.join(unknown)}: choose from {', '.join(FAULTS)}"
        )
    return names


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "temporal"], default="sqlite")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20, help="runs per worker at once")
    parser.add_argument(
        "--kill-interval",
        type=interval,
        default=(0.5, 3.0),
        metavar="MIN,MAX",
        help="seconds between two chaos events (default 0.5,3)",
    )
    parser.add_argument(
        "--faults",
        type=fault_list,
        default=list(FAULTS),
        metavar="F,F,...",
        help=f"what to inject (default all that apply to the engine): {','.join(FAULTS)}",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.25, help="share of model requests answered by a fault"
    )
    parser.add_argument(
        "--seconds", type=float, default=900, help="budget: give up (and fail) after this long"
    )
    parser.add_argument(
        "--min-serve",
        type=float,
        default=5.0,
        help="kill only workers that have served this many seconds (on a loaded machine a start takes long)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dir", help="work directory (default a new temporary one, kept for inspection)")
    parser.add_argument(
        "--rare-every",
        type=int,
        default=8,
        metavar="N",
        help="a full disk, a lock or a server kill at most every N chaos events each (default 8)",
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        help="runs do not finish before every kind of chaos fault happened once (short runs: the CI version)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line too")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.workers < 1:
        parser.error("--runs and --workers must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
