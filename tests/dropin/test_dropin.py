"""Drop-in fidelity (issue 13): unchanged Agents SDK programs behave as under the plain Runner.

Every program of ``tests.dropin.programs`` runs three ways, and each way's outcome is compared with the oracle's:

* ``oracle``: the workflow function called as plain async code, outside stead (``await wf()``);
* ``workflow``: a run on the engine, executed by an in-process worker;
* ``crash``: a run on the engine executed by a real ``stead worker`` process that is killed with ``kill -9`` once
  every program has journaled its first model calls, then finished by a fresh worker process.

The ways are batched: all programs run together, once per way and engine (one pair of worker processes per
engine for the crash way). The fake model server runs in this process, so it counts every model request across
the workers' lives; tools and hooks append their side effects to a file. Besides the outcome, a way must make
exactly the oracle's model requests (none repeated, none skipped) and the oracle's side effects.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import stead
from stead.agents import approve
from stead.testing import Drop, FakeOpenAIServer, FakeRequest, ReplyLike

from ..procs import ROOT, close, env, popen, stead_cmd
from ..temporal_server import fresh_namespace, temporal_server  # noqa: F401 - a fixture
from .programs import EFFECTS, PROGRAMS, Program, arrived, reset_order, route

SOURCE = "tests.dropin.programs"
ENGINES = ["sqlite", "temporal"]
#: How long a run may take in a batch before it counts as stuck (the batches run every program at once).
RUN_TIMEOUT = 60.0
#: The same for a run executed by a worker process, which may take long to start on a loaded machine.
WORKER_TIMEOUT = 120.0


class Router:
    """One fake model server for every program: routes each request to its program's script and counts it.

    While ``parking``, a program's requests after its first ``park_after`` hang until ``release``; they are
    then dropped, as a killed worker never receives them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server = FakeOpenAIServer(self.respond)
        self.reset(parking=False)

    def reset(self, *, parking: bool) -> None:
        reset_order()
        with self.lock:
            self.parking = parking
            self.release = threading.Event()
            self.arrived: Counter[str] = Counter()
            self.answered: Counter[str] = Counter()
            self.hung: Counter[str] = Counter()
            self.failures: list[str] = []

    def unpark(self) -> None:
        with self.lock:
            self.parking = False
            self.release.set()

    def respond(self, request: FakeRequest) -> ReplyLike:
        try:
            name, agent = route(request)
            prog = PROGRAMS[name]
        except LookupError as exc:
            self.failures.append(str(exc))
            raise
        arrived(name, agent)
        with self.lock:
            hang = self.parking and self.arrived[name] >= prog.park_after
            self.arrived[name] += 1
            (self.hung if hang else self.answered)[name] += 1
            release = self.release
        if hang:
            release.wait(120)
            return Drop()
        try:
            return prog.script(agent, request)
        except Exception as exc:
            self.failures.append(f"{name}/{agent}: {exc!r}")
            raise


@dataclass
class Batch:
    """What one way did for every program."""

    outcomes: dict[str, Any]
    answered: Counter[str]
    effects: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    unparked: list[str] = field(default_factory=list)
    """Programs the crash did not find where it should (killed anyway, wherever they were)."""


def effects_of(path: Path) -> dict[str, list[str]]:
    lines = [line.split(" ", 1)[1] for line in path.read_text().splitlines()] if path.exists() else []
    return {p.name: [line for line in lines if line.startswith(p.effect_prefix)] for p in PROGRAMS.values()}


def failed(error: BaseException) -> dict[str, Any]:
    """An outcome that is an exception, as an engine records it (``stead.RunFailed``: type and message)."""
    return {"error": type(error).__name__, "message": str(error)}


async def finish(engine: stead.Engine, run_id: str, worker: subprocess.Popen[str] | None = None) -> Any:
    """The run's outcome once it finished; ``stuck`` if it did not in time, or if its worker is gone."""
    deadline = time.monotonic() + (RUN_TIMEOUT if worker is None else WORKER_TIMEOUT)
    while time.monotonic() < deadline:
        try:
            await engine.wait(run_id, timeout=1.0)
        except TimeoutError:
            if worker is not None and worker.poll() is not None:
                break
            continue
        # Read the outcome of the finished run afresh: a wait that timed out just as the run ended may have
        # read its status and its history at different moments (Temporal: completed, without the result).
        try:
            return await engine.handle(run_id).result(timeout=30)
        except stead.RunFailed as exc:
            if exc.error_type == "WorkflowExited" and exc.data is not None:
                # The program's SystemExit: stead ends the run with it (exit code and all), never the worker.
                return failed(SystemExit(exc.data["exit_code"]))
            return {"error": exc.error_type, "message": exc.message}
    return {"stuck": (await engine.get(run_id)).status.value}


async def start_run(engine: stead.Engine, prog: Program) -> None:
    # A namespace of a dev server that just started may take some seconds to be usable (its caches refresh: one
    # may accept the start while another does not know the namespace yet, so the run is read back too).
    for _ in range(60):
        try:
            await engine.start(prog.workflow, run_id=f"dropin-{prog.name}", source=SOURCE)
            await engine.get(f"dropin-{prog.name}")
            return
        except stead.UsageError as exc:
            if "namespace" not in str(exc):
                raise
            await asyncio.sleep(0.5)
    raise AssertionError(f"the engine never accepted run dropin-{prog.name}")


async def approve_when_asked(engine: stead.Engine, run_id: str, call_ids: list[str]) -> None:
    """A person approving each call once the run shows it waits for it."""
    for call_id in call_ids:
        while f"approval:{call_id}" not in (await engine.get(run_id)).waiting_for:  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.05)
        await approve(engine, run_id, call_id)


class Ways:
    """Runs the batches (lazily, each once) in a temporary directory, with the model server's environment."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest) -> None:
        self.tmp = tmp
        self.request = request
        self.router = Router()
        self.done: dict[tuple[str, str], Batch] = {}
        self.times: dict[tuple[str, str], float] = {}
        self.broken: dict[tuple[str, str], BaseException] = {}
        self.label = ""
        self.unparked: list[str] = []
        self.temporal_address = ""
        self.effects = tmp / "effects"

    def env(self, effects: Path) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": self.router.server.base_url,
            "OPENAI_API_KEY": "test-key",
            # The plain SDK speaks the Responses API to any base URL; stead would pick Chat Completions for a
            # base URL (for Ollama and the like) unless told. Same API both ways: the comparison is about the rest.
            "STEAD_OPENAI_API": "responses",
            EFFECTS: str(effects),
        }

    def url(self, engine: str, label: str) -> str:
        if engine == "sqlite":
            return f"sqlite:///{self.tmp}/{label}.db"
        address = self.temporal_address
        url = (
            f"temporal://{address}?namespace={fresh_namespace()}&task_queue=dropin-{uuid.uuid4().hex[:8]}"
            # A batch loads the machine: a slow workflow task is not a lost worker, and a step whose worker is
            # starved for seconds (its heartbeats late) is not a lost step that Temporal should run again.
            "&task_timeout=30&heartbeat=15"
        )
        return url

    def batch(self, way: str, engine: str) -> Batch:
        key = (way, engine)
        if key in self.broken:
            raise AssertionError(f"the {way}/{engine} batch failed: {self.broken[key]!r}")
        try:
            return self._batch(way, engine)
        except BaseException as exc:  # a test's timeout too: the next test must not run the batch again
            self.broken[key] = exc
            raise

    def _batch(self, way: str, engine: str) -> Batch:
        key = (way, engine)
        if key not in self.done:
            started = time.monotonic()
            self.label = f"{way}-{engine}"
            self.effects = self.tmp / f"{self.label}.effects"
            self.router.reset(parking=way == "crash")
            if (
                engine == "temporal" and not self.temporal_address
            ):  # it starts with asyncio.run: not in a loop
                self.temporal_address = self.request.getfixturevalue("temporal_server")
            with pytest.MonkeyPatch.context() as mp:
                for name, value in self.env(self.effects).items():
                    mp.setenv(name, value)
                if way == "oracle":
                    outcomes = asyncio.run(self.oracle())
                elif way == "workflow":
                    outcomes = asyncio.run(self.in_workflow(engine))
                else:
                    outcomes = asyncio.run(self.crashed(engine))
            self.done[key] = Batch(
                outcomes,
                Counter(self.router.answered),
                effects_of(self.effects),
                list(self.router.failures),
                list(self.unparked),
            )
            self.times[key] = time.monotonic() - started
        return self.done[key]

    async def oracle(self) -> dict[str, Any]:
        async def plain(prog: Program) -> Any:
            try:
                async with asyncio.timeout(RUN_TIMEOUT):  # not wait_for: its task would re-raise SystemExit
                    outcome = await prog.workflow()
            except BaseException as exc:  # SystemExit included: it is what the program did
                return failed(exc)
            return json.loads(json.dumps(outcome))  # what a journal keeps of it: JSON

        values = await asyncio.gather(*(plain(p) for p in PROGRAMS.values()))
        return dict(zip(PROGRAMS, values, strict=True))

    def lanes(self, engine: str, way: str) -> dict[str, tuple[str, list[Program]]]:
        """Engine URL and programs of each lane: one for the programs that leave the process they run in alone,
        and one of its own for each program that does not (it must not take the others down with it)."""
        shared = [p for p in PROGRAMS.values() if not p.isolated]
        lanes = {"shared": (self.url(engine, way), shared)}
        for prog in PROGRAMS.values():
            if prog.isolated:
                lanes[prog.name] = (self.url(engine, f"{way}-{prog.name}"), [prog])
        return lanes

    async def in_workflow(self, engine_name: str) -> dict[str, Any]:
        async def lane(name: str, url: str, progs: list[Program]) -> list[Any]:
            async with stead.connect(url) as engine:
                for prog in progs:
                    await start_run(engine, prog)
                approvers = [
                    asyncio.create_task(approve_when_asked(engine, f"dropin-{p.name}", p.approvals))
                    for p in progs
                    if p.approvals
                ]
                try:
                    if name == "shared":
                        async with engine.worker([p.workflow for p in progs]):
                            return await asyncio.gather(*(finish(engine, f"dropin-{p.name}") for p in progs))
                    proc = self.spawn_worker(url, name)
                    try:
                        return await asyncio.gather(
                            *(finish(engine, f"dropin-{p.name}", proc) for p in progs)
                        )
                    finally:
                        stop(proc)
                finally:
                    for task in approvers:
                        task.cancel()

        lanes = self.lanes(engine_name, "workflow")
        values = await asyncio.gather(*(lane(name, url, progs) for name, (url, progs) in lanes.items()))
        return {
            p.name: v
            for (_, progs), vs in zip(lanes.values(), values, strict=True)
            for p, v in zip(progs, vs, strict=True)
        }

    async def crashed(self, engine_name: str) -> dict[str, Any]:
        lanes = self.lanes(engine_name, "crash")
        engines = {name: stead.connect(url) for name, (url, _) in lanes.items()}
        try:
            for name, (_, progs) in lanes.items():
                for prog in progs:
                    await start_run(engines[name], prog)
            first = {name: self.spawn_worker(url, f"{name}-first") for name, (url, _) in lanes.items()}
            try:
                await asyncio.gather(
                    *(
                        self.wait_parked(engines[name], first[name], progs, name)
                        for name, (_, progs) in lanes.items()
                    )
                )
            finally:
                for proc in first.values():
                    if proc.poll() is None:
                        os.kill(proc.pid, 9)
                    proc.wait()
                    close(proc)
            self.router.unpark()  # the counters go on: they count the requests of both workers
            for name, (_, progs) in lanes.items():
                for prog in progs:
                    for call_id in prog.approvals:
                        await approve(engines[name], f"dropin-{prog.name}", call_id)
            second = {name: self.spawn_worker(url, f"{name}-second") for name, (url, _) in lanes.items()}
            try:
                values = await asyncio.gather(
                    *(
                        finish(engines[name], f"dropin-{p.name}", second[name])
                        for name, (_, progs) in lanes.items()
                        for p in progs
                    )
                )
            finally:
                for proc in second.values():
                    stop(proc)
        finally:
            for engine in engines.values():
                await engine.close()
        names = [p.name for _, progs in lanes.values() for p in progs]
        return dict(zip(names, values, strict=True))

    def spawn_worker(self, url: str, label: str) -> subprocess.Popen[str]:
        log = open(self.tmp / f"worker-{self.label}-{label}.log", "w")  # noqa: SIM115 - closed below, kept open by the child
        try:
            return popen(
                stead_cmd(url, "worker", SOURCE),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=env(**self.env(self.effects)),
                cwd=ROOT,
            )
        finally:
            log.close()

    async def wait_parked(
        self, engine: stead.Engine, worker: subprocess.Popen[str], progs: list[Program], lane: str
    ) -> None:
        """Until every program waits where the kill must find it: its first model calls journaled, the next ones
        hanging (or it waits for an approval, or it already finished)."""
        waiting = {p.name: p for p in progs}
        deadline = time.monotonic() + WORKER_TIMEOUT
        while waiting and time.monotonic() < deadline and worker.poll() is None:
            for name, prog in list(waiting.items()):
                info = await engine.get(f"dropin-{name}")
                if info.status.finished or (prog.approvals and info.waiting_for):
                    del waiting[name]
                    continue
                if self.router.hung[name] < prog.parked:
                    continue
                steps = await engine.steps(f"dropin-{name}")
                if sum(1 for s in steps if s.kind == "model" and s.status == "done") >= prog.park_after:
                    del waiting[name]
            await asyncio.sleep(0.05)
        log = self.tmp / f"worker-{self.label}-{lane}-first.log"
        assert worker.poll() is None, f"the first worker of lane {lane} died: {log.read_text()[-3000:]}"
        self.unparked.extend(waiting)  # killed anyway: the others need not wait for it


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    close(proc)


@pytest.fixture(scope="module")
def ways(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Ways]:
    ways = Ways(tmp_path_factory.mktemp("dropin"), request)
    ways.router.server.start()
    try:
        yield ways
    finally:
        ways.router.release.set()
        ways.router.server.stop()
        for (way, engine), seconds in ways.times.items():
            print(f"dropin batch {way}/{engine}: {seconds:.1f}s")


#: Cases seen to fail and not understood yet: not strict, since they do not fail every time.
OPEN = {
    ("as_completed", "crash", "temporal"): (
        "open (issue 13.1 on Temporal): after kill -9 the second worker's replay met the agent runs' model steps "
        "in another order (NonDeterminismError on two workflow tasks) and the run was left running. Cause found: "
        "asyncio.as_completed made the runs' tasks in set (memory address) order, so their positions differed "
        "between the workers; fixed in stead._context, not yet confirmed here (the dev server timed out on a "
        "loaded machine in every try)"
    ),
}


def cases() -> Iterator[Any]:
    for prog in PROGRAMS.values():
        yield pytest.param(prog.name, "oracle", "-", id=f"{prog.name}-oracle")
        for way in ("workflow", "crash"):
            for engine in ENGINES:
                marks = [pytest.mark.slow] if way == "crash" or prog.isolated else []  # worker processes
                reason = prog.xfail.get(f"{way}/{engine}")
                open_case = OPEN.get((prog.name, way, engine))
                if open_case:
                    marks.append(pytest.mark.xfail(strict=False, reason=open_case))
                if reason:
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                yield pytest.param(prog.name, way, engine, marks=marks, id=f"{prog.name}-{way}-{engine}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "way", "engine"), list(cases()))
def test_dropin(ways: Ways, name: str, way: str, engine: str) -> None:
    prog = PROGRAMS[name]
    oracle = ways.batch("oracle", "-")
    expected = oracle.outcomes[name]
    if way == "oracle":
        assert not oracle.notes, oracle.notes
        assert {k: expected.get(k) for k in prog.expect} == prog.expect, expected
        return
    got = ways.batch(way, engine)
    assert name not in got.unparked, "the worker was killed before the program reached its crash point"
    assert got.outcomes[name] == expected
    assert got.answered[name] == oracle.answered[name], "model calls repeated or skipped"
    if way == "workflow":
        assert got.effects[name] == oracle.effects[name]
    else:  # two processes: the order across them says nothing
        assert Counter(got.effects[name]) == Counter(oracle.effects[name]), "side effects repeated or skipped"
