"""Terminal rendering with rich: the live step view and its plain-line variant, run tables, ``show``, streams."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import RunEvent, RunInfo, RunStatus, RunUsage, StepInfo, prices, usage
from .._views import (
    age_text,
    budget_text,
    budget_view,
    call_text,
    cost_text,
    duration_text,
    is_bookkeeping,
    pending_waits,
    result_text,
    run_duration,
    run_status_label,
    short_json,
    step_elapsed,
    step_label,
    step_result,
    step_status_label,
    time_text,
    tokens_text,
    workerless,
)

__all__ = [
    "EventPrinter",
    "LineProgress",
    "LiveProgress",
    "Progress",
    "err_console",
    "how_to_resume",
    "out_console",
    "runs_table",
    "show_run",
    "stdout_is_terminal",
]

STYLES = {
    "completed": "green",
    "done": "green",
    "failed": "red",
    "cancelled": "magenta",
    "running": "yellow",
    "pending": "cyan",
    "waiting": "cyan",
}


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def out_console() -> Console:
    """The console for stdout: wide enough off a terminal that tables are not squeezed to 80 columns."""
    wide = not stdout_is_terminal() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=200 if wide else None)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def styled(status: str) -> Text:
    return Text(status, style=STYLES.get(status, ""))


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def how_to_resume(info: RunInfo) -> str:
    """What to type to continue a run that no worker holds."""
    return (
        f"continue it with: stead resume {info.run_id} (or serve it: stead worker {info.source or 'FILE.py'})"
    )


def how_to_answer(run_id: str, name: str) -> str:
    """The command that delivers what a run waits for."""
    from ..agents import approval_call_id

    call_id = approval_call_id(name)
    if call_id is not None:
        return f"stead approve {run_id} {call_id}, or stead reject {run_id} {call_id} -m WHY"
    return f"stead send {run_id} {name} JSON"


# -- progress of a run executing in this process --------------------------------------------------------------


class Progress:
    """Shows a run's steps while it executes. This base shows nothing (``--json``, ``--quiet``)."""

    def __init__(self, run_id: str, workflow: str) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.recorded: set[str] = set()

    def begin(self, recorded: Iterable[StepInfo]) -> None:
        """Steps the journal held before this execution started (a resumed run replays them)."""
        self.recorded = {s.position for s in recorded if s.status in ("done", "failed")}

    def update(self, steps: list[StepInfo]) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass


class LineProgress(Progress):
    """Off a terminal (CI, pipes): one plain line per step as it completes, and one when a wait starts."""

    def __init__(self, run_id: str, workflow: str) -> None:
        super().__init__(run_id, workflow)
        self.printed: set[str] = set()
        self.waiting: set[str] = set()

    def update(self, steps: list[StepInfo]) -> None:
        for step in steps:
            if is_bookkeeping(step) or step.position in self.printed:
                continue
            if step.status in ("done", "failed"):
                self.printed.add(step.position)
                click.echo(self.line(step))
            elif step.kind == "wait" and step.position not in self.waiting:
                self.waiting.add(step.position)
                click.echo(f"{self.prefix(step)}: waiting ({how_to_answer(self.run_id, step.name)})")
        sys.stdout.flush()

    @staticmethod
    def prefix(step: StepInfo) -> str:
        label = f"for {step.name!r}" if step.kind == "wait" else step.summary or step.name
        return f"{step.kind} {step.position} {label}"

    def line(self, step: StepInfo) -> str:
        text = f"{self.prefix(step)}: {step.status}"
        if step.position in self.recorded:
            return text + " (recorded earlier)"
        text += f" in {duration_text(step.duration)}"
        if step.attempts > 1:
            text += f" after {step.attempts} attempts"
        if step.status == "failed" and step.error is not None:
            text += f": {step.error}"
        elif step.kind != "timer":
            text += f" -> {step_result(step)}"
        return text


class LiveProgress(Progress):
    """On a terminal: a table of the steps, redrawn as they progress."""

    def __init__(self, run_id: str, workflow: str, console: Console) -> None:
        super().__init__(run_id, workflow)
        self.started = time.monotonic()
        self.steps: list[StepInfo] = []
        self.max_rows = max(3, min(40, console.height - 10))
        self.running = True
        self.live = Live(self.render(), console=console, refresh_per_second=8, transient=False)

    def update(self, steps: list[StepInfo]) -> None:
        self.steps = steps
        self.live.update(self.render())

    def render(self) -> RenderableType:
        elapsed = duration_text(time.monotonic() - self.started)
        table = Table(
            title=f"{escape(self.workflow)} · {escape(self.run_id)}",
            title_justify="left",
            caption=f"running {elapsed}" if self.running else elapsed,
            caption_justify="left",
        )
        for column, justify in (
            ("#", "right"),
            ("step", "left"),
            ("status", "left"),
            ("attempts", "right"),
            ("duration", "right"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        visible = [s for s in self.steps if not is_bookkeeping(s)]
        if len(visible) > self.max_rows:
            table.add_row(
                "", Text(f"… {len(visible) - self.max_rows} earlier steps", style="dim"), "", "", ""
            )
            visible = visible[-self.max_rows :]
        for step in visible:
            status = step_status_label(step)
            style = STYLES.get(status, "")
            if step.position in self.recorded:
                status += " (recorded)"
            table.add_row(
                Text(step.position, style="dim"),
                Text(step_label(step)),
                Text(status, style=style),
                str(step.attempts),
                duration_text(step_elapsed(step)),
            )
        waits = pending_waits(visible)
        if not waits:
            return table
        hint = Text(
            f"waiting for message {waits[0].name!r}: {how_to_answer(self.run_id, waits[0].name)}",
            style="cyan",
        )
        return Group(table, hint)

    def __enter__(self) -> Progress:
        self.live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.running = False
        self.live.update(self.render())
        self.live.stop()


# -- ls and show ----------------------------------------------------------------------------------------------


def runs_table(runs: list[RunInfo], tokens: dict[str, int] | None = None) -> Table:
    """The runs, one a line; ``tokens`` gives the model tokens each run used (see ``stead.usage``)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("run id", "workflow", "status", "steps", "tokens", "waiting for", "updated", "duration"):
        right = column in ("steps", "tokens", "duration")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for info in runs:
        used = (tokens or {}).get(info.run_id, 0)
        table.add_row(
            info.run_id,
            info.workflow,
            Text(run_status_label(info), style=STYLES.get(str(info.status), "")),
            str(info.steps),
            tokens_text(used, compact=True) if used else "-",
            ", ".join(info.waiting_for) or "-",
            age_text(info.updated_at),
            duration_text(run_duration(info)),
        )
    return table


def show_run(info: RunInfo, steps: list[StepInfo], *, verbose: bool) -> list[RenderableType]:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("run", Text(info.run_id))
    header.add_row("workflow", Text(info.workflow))
    header.add_row("status", Text(run_status_label(info), style=STYLES.get(str(info.status), "")))
    if workerless(info):
        header.add_row("worker", Text(f"none holds this run: {how_to_resume(info)}", style="yellow"))
    header.add_row("created", f"{time_text(info.created_at)} ({age_text(info.created_at)})")
    if info.finished_at is not None:
        header.add_row("finished", time_text(info.finished_at))
    header.add_row("duration", duration_text(run_duration(info)))
    header.add_row("source", Text(info.source or "-"))
    header.add_row("call", Text(call_text(info.workflow, info.args)))
    if info.waiting_for:
        header.add_row("waiting for", Text(", ".join(info.waiting_for), style="cyan"))
    run_usage = usage(steps)
    budget = budget_text(budget_view(info, run_usage))
    if budget is not None:
        header.add_row("budget", Text(budget))
    out: list[RenderableType] = [header]
    if info.state:
        out += [Text("\npublished state", style="bold"), Text(pretty_json(info.state))]
    out.append(Text(f"\nsteps ({info.steps})", style="bold"))
    out.append(steps_table(steps, verbose=verbose) if steps else Text("(none recorded)", style="dim"))
    out += usage_section(run_usage)
    if info.status is RunStatus.COMPLETED:
        out += [Text("\nresult", style="bold"), Text(result_text(info.result))]
    elif info.error is not None:
        out += [Text("\nerror", style="bold"), Text(str(info.error), style="red")]
        if verbose and info.error.details:
            out.append(Text(info.error.details, style="dim"))
        elif info.error.details:
            out.append(Text("(traceback: stead show -v)", style="dim"))
    return out


def steps_table(steps: list[StepInfo], *, verbose: bool) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("#", "kind", "step", "status", "attempts", "duration", "result / error"):
        table.add_column(column, justify="right" if column in ("attempts", "duration") else "left")
    for step in steps:
        if is_bookkeeping(step) and not verbose:
            continue
        if step.error is not None:
            outcome = Text(str(step.error), style="red")
        elif step.status == "done" and step.kind != "timer":
            outcome = Text(step_result(step, 200 if verbose else 60))
        else:
            outcome = Text("")
        table.add_row(
            Text(step.position, style="dim"),
            step.kind,
            Text(step_label(step)),
            styled(step.status),
            str(step.attempts),
            duration_text(step_elapsed(step)),
            outcome,
        )
        for n, error in enumerate(step.attempt_errors, 1):
            table.add_row("", "", Text(f"  ↳ attempt {n}: {error}", style="dim red"), "", "", "", "")
            if verbose and error.details:
                table.add_row("", "", Text(error.details, style="dim"), "", "", "", "")
        if verbose and step.error is not None and step.error.details:
            table.add_row("", "", Text(step.error.details, style="dim"), "", "", "", "")
    return table


class EventPrinter:
    """Prints a run's event stream for people: a header per model or tool attempt, then its tokens as they come.

    When an attempt fails (or a worker died in the middle of it), the text it printed is void: the printer says
    so before the next attempt's text begins.
    """

    def __init__(self, write: Callable[[str], object] | None = None) -> None:
        self._write = write or _stdout_write
        self._open: dict[str, int] = {}  # position -> attempt whose text is being printed
        self._at_line_start = True

    def _line(self, text: str) -> None:
        if not self._at_line_start:
            self._write("\n")
        self._write(text + "\n")
        self._at_line_start = True

    def __call__(self, event: RunEvent) -> None:
        data = event.data
        if event.kind == "attempt_started":
            previous = self._open.get(event.position)
            if previous is not None:
                self._line(f"   (attempt {previous} was cut off: ignore its text above)")
            label = (data or {}).get("summary") or (data or {}).get("name") or event.position
            suffix = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            self._line(f"── {label}{suffix}")
            self._open[event.position] = event.attempt
        elif event.kind == "text":
            text = str(data)
            self._write(text)
            self._at_line_start = text.endswith("\n")
        elif event.kind == "attempt_failed":
            retry = (data or {}).get("retry_in")
            then = f"; retrying in {retry:.1f}s, ignore its text above" if retry is not None else ""
            self._line(f"   ✗ attempt {event.attempt} failed: {(data or {}).get('error')}{then}")
            self._open.pop(event.position, None)
        elif event.kind == "rate_limited":
            self._line(
                f"   waiting for rate limit on {(data or {}).get('key')} ({(data or {}).get('wait', 0):.1f}s)"
            )
        elif event.kind == "background":
            verb = "picked up" if (data or {}).get("resumed") else "accepted as"
            self._line(f"   {verb} background response {(data or {}).get('response_id')}")
        elif event.kind == "step_done":
            if not self._at_line_start:
                self._line("")
            self._open.pop(event.position, None)
        else:
            self._line(f"[{event.kind}] {short_json(data, 120)}")

    def close(self) -> None:
        if not self._at_line_start:
            self._write("\n")
            self._at_line_start = True


def _stdout_write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# -- usage --------------------------------------------------------------------------------------------------


def usage_section(usage: RunUsage) -> list[RenderableType]:
    """The model usage of a run, per agent and model, with cost; nothing when the run called no model."""
    if not usage.calls:
        return []
    title = (
        f"\nusage ({usage.calls} model call{'s' if usage.calls != 1 else ''} · "
        f"{tokens_text(usage.total_tokens)} tokens · {cost_text(usage.cost_usd)}"
        + (" + unpriced" if usage.unpriced else "")
        + ")"
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in (
        "agent",
        "model",
        "calls",
        "requests",
        "input",
        "cached",
        "output",
        "reasoning",
        "total",
        "cost",
    ):
        table.add_column(column, justify="left" if column in ("agent", "model") else "right")
    for agent in usage.agents.values():
        for n, (model, tokens) in enumerate(agent.by_model.items()):
            price = prices.lookup(model)
            calls = str(agent.calls) if n == 0 and len(agent.by_model) == 1 else ""
            table.add_row(
                Text(agent.agent if n == 0 else ""),
                Text(model),
                calls,
                tokens_text(tokens.requests),
                tokens_text(tokens.input_tokens),
                tokens_text(tokens.cached_input_tokens),
                tokens_text(tokens.output_tokens),
                tokens_text(tokens.reasoning_tokens),
                tokens_text(tokens.total_tokens),
                cost_text(price.cost(tokens)) if price is not None else Text("unpriced", style="yellow"),
            )
    if len(usage.agents) > 1 or any(len(a.by_model) > 1 for a in usage.agents.values()):
        total = usage.tokens
        table.add_row(
            Text("total", style="bold"),
            "",
            str(usage.calls),
            tokens_text(total.requests),
            tokens_text(total.input_tokens),
            tokens_text(total.cached_input_tokens),
            tokens_text(total.output_tokens),
            tokens_text(total.reasoning_tokens),
            tokens_text(total.total_tokens),
            cost_text(usage.cost_usd),
        )
    out: list[RenderableType] = [Text(title, style="bold"), table]
    if usage.unpriced:
        out.append(
            Text(
                f"no price for {', '.join(usage.unpriced)}: counted as $0 "
                "(add prices with stead.prices.update({...}) or STEAD_PRICES=prices.json)",
                style="dim",
            )
        )
    return out
