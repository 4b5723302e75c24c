"""Token usage, cost and budgets of runs, derived from the journal.

Every model step records the model's response, and the response carries its token usage. Usage is therefore read
from the journal, never written separately: it is the same live and on replay, on every engine. Cost comes from a
price table (USD per million tokens) keyed by model name, which the program extends with ``stead.prices``.

Inside a workflow, :func:`budget` sets limits on the run's tokens or cost. Before each model call the agents
integration compares the usage so far with them; a call that the budget does not allow is recorded as a failed
model step (the model is not called), so that a replay reaches the same decision from the journal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._context import require_scope
from ._exceptions import BudgetExceeded, UsageError

if TYPE_CHECKING:
    from ._context import RunRuntime
    from ._engine import StepInfo

__all__ = [
    "BUDGET_STATE",
    "AgentUsage",
    "Budget",
    "Price",
    "PriceTable",
    "RunUsage",
    "TokenUsage",
    "budget",
    "prices",
    "tokens_of_result",
    "usage",
]

logger = logging.getLogger("stead")


# -- prices ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """What a model costs, in USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    """For input tokens served from the provider's prompt cache; the input price when not given."""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value < 0 or math.isnan(value)):
                raise UsageError(
                    f"Price.{name} must be a non-negative number of USD per 1M tokens, got {value!r}"
                )

    @classmethod
    def of(cls, value: Price | Mapping[str, Any] | tuple[float, ...] | list[float]) -> Price:
        """A price from a ``Price``, a mapping ``{"input":…, "output":…, "cached_input":…}`` or a tuple
        ``(input, output)`` / ``(input, cached_input, output)``."""
        if isinstance(value, Price):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"input", "output", "cached_input"}
            if unknown or "input" not in value or "output" not in value:
                raise UsageError(
                    f"a price needs 'input' and 'output' (and optionally 'cached_input'), USD per 1M tokens; "
                    f"got {dict(value)!r}"
                )
            cached = value.get("cached_input")
            return cls(
                float(value["input"]), float(value["output"]), None if cached is None else float(cached)
            )
        if isinstance(value, tuple | list) and len(value) in (2, 3):
            if len(value) == 2:
                return cls(float(value[0]), float(value[1]))
            return cls(float(value[0]), float(value[2]), float(value[1]))
        raise UsageError(
            f"cannot read a price from {value!r}: give Price(input=…, output=…), a mapping with 'input' and "
            "'output', or a tuple (input, output) / (input, cached_input, output), in USD per 1M tokens"
        )

    def cost(self, tokens: TokenUsage) -> float:
        cached = min(tokens.cached_input_tokens, tokens.input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (tokens.input_tokens - cached) * self.input
            + cached * cached_price
            + tokens.output_tokens * self.output
        ) / 1_000_000


#: Standard-tier list prices, USD per 1M tokens (input, cached input, output), as published by OpenAI in 2025.
#: Check them against your provider's current prices; override or extend with ``stead.prices.update(...)``.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
}

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class PriceTable(MutableMapping[str, Price]):
    """Prices by model name. ``stead.prices`` is the table stead uses.

    ``stead.prices.update({"my-model": {"input": 0.5, "output": 1.5}})`` adds or replaces entries; values may be
    :class:`Price` objects, mappings or tuples (see :meth:`Price.of`). ``STEAD_PRICES`` may name a JSON file of
    the same shape, read when a price is first looked up (its entries replace the defaults, entries set in code
    replace both). A name like ``openai/gpt-4o-2024-08-06`` finds the price of ``gpt-4o``.
    """

    def __init__(self, entries: Mapping[str, Any] | None = None) -> None:
        self._entries: dict[str, Price] = {}
        self._from_code: set[str] = set()
        self._env_loaded: str | None = None
        for name, value in (entries or {}).items():
            self._entries[name] = Price.of(value)

    def __getitem__(self, model: str) -> Price:
        self._load_env()
        return self._entries[model]

    def __setitem__(self, model: str, value: Price | Mapping[str, Any] | tuple[float, ...]) -> None:
        if not isinstance(model, str) or not model:
            raise UsageError(f"a price is keyed by a model name, got {model!r}")
        self._entries[model] = Price.of(value)
        self._from_code.add(model)

    def update(  # type: ignore[override]  # takes what Price.of takes, as __setitem__ does
        self,
        other: Mapping[str, Price | Mapping[str, Any] | tuple[float, ...]]
        | Iterable[tuple[str, Price | Mapping[str, Any] | tuple[float, ...]]] = (),
        /,
        **kwargs: Price | Mapping[str, Any] | tuple[float, ...],
    ) -> None:
        """Add or replace prices: ``Price`` objects, mappings ``{"input":…, "output":…}`` or tuples."""
        items = other.items() if isinstance(other, Mapping) else other
        for model, value in [*items, *kwargs.items()]:
            self[model] = value

    def __delitem__(self, model: str) -> None:
        del self._entries[model]
        self._from_code.discard(model)

    def __iter__(self) -> Iterator[str]:
        self._load_env()
        return iter(dict(self._entries))

    def __len__(self) -> int:
        self._load_env()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models)"

    def _load_env(self) -> None:
        path = os.environ.get("STEAD_PRICES") or None
        if path is None or path == self._env_loaded:
            return
        self._env_loaded = path
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise UsageError(f"STEAD_PRICES={path!r}: cannot read a JSON price table: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(
                f'STEAD_PRICES={path!r}: expected a JSON object {{"model": {{"input": …, "output": …}}}}'
            )
        for name, value in data.items():
            if name not in self._from_code:
                self._entries[str(name)] = Price.of(value)

    def lookup(self, model: str) -> Price | None:
        """The price of ``model``, also under its bare name (no ``provider/`` prefix, no snapshot date)."""
        self._load_env()
        candidates = [model, model.lower()]
        bare = model.rsplit("/", 1)[-1].lower()
        candidates.append(bare)
        undated = _SNAPSHOT.sub("", bare)
        candidates.append(undated)
        for name in candidates:
            price = self._entries.get(name)
            if price is not None:
                return price
        return None


prices = PriceTable(DEFAULT_PRICES)
"""The price table stead uses for costs and cost budgets."""


# -- usage ----------------------------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one or more model calls."""

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    """Part of ``input_tokens`` served from the provider's prompt cache."""
    output_tokens: int = 0
    reasoning_tokens: int = 0
    """Part of ``output_tokens`` the model spent reasoning."""
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.total_tokens + other.total_tokens,
        )

    @classmethod
    def from_json(cls, data: Any) -> TokenUsage | None:
        """Usage as the agents SDK (``ModelResponse.usage``), the Responses API or Chat Completions write it."""
        if not isinstance(data, Mapping):
            return None
        if "input_tokens" in data or "output_tokens" in data:
            inputs, outputs = _int(data.get("input_tokens")), _int(data.get("output_tokens"))
            in_details, out_details = data.get("input_tokens_details"), data.get("output_tokens_details")
        elif "prompt_tokens" in data or "completion_tokens" in data:
            inputs, outputs = _int(data.get("prompt_tokens")), _int(data.get("completion_tokens"))
            in_details, out_details = data.get("prompt_tokens_details"), data.get("completion_tokens_details")
        else:
            return None
        cached = _int(in_details.get("cached_tokens")) if isinstance(in_details, Mapping) else 0
        reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, Mapping) else 0
        total = _int(data.get("total_tokens")) or inputs + outputs
        requests = _int(data["requests"]) if "requests" in data else 1
        return cls(requests, inputs, cached, outputs, reasoning, total)

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class AgentUsage:
    """The model calls of one agent (by name) in a run."""

    agent: str
    calls: int
    """Model steps that returned a response."""
    tokens: TokenUsage
    by_model: Mapping[str, TokenUsage]
    cost_usd: float
    """Cost of the calls to priced models."""
    unpriced: tuple[str, ...] = ()
    """Models of this agent without a price: their calls count as costing nothing."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.by_model)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "calls": self.calls,
            **self.tokens.to_json(),
            "models": list(self.by_model),
            "cost_usd": self.cost_usd,
            "unpriced": list(self.unpriced),
        }


@dataclass(frozen=True)
class RunUsage:
    """Token usage and cost of a run, in all and per agent."""

    agents: Mapping[str, AgentUsage] = field(default_factory=dict)
    """By agent name, in the order the agents first called their model."""
    tokens: TokenUsage = field(default_factory=TokenUsage)
    calls: int = 0
    cost_usd: float = 0.0
    unpriced: tuple[str, ...] = ()
    """Models without a price (their calls count as costing nothing): add them to ``stead.prices``."""

    @property
    def input_tokens(self) -> int:
        return self.tokens.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.tokens.output_tokens

    @property
    def total_tokens(self) -> int:
        return self.tokens.total_tokens

    @classmethod
    def of(cls, calls: Iterable[tuple[str, str, TokenUsage]]) -> RunUsage:
        """Usage from model calls given as ``(agent, model, tokens)``, costed with ``stead.prices``."""
        per_agent: dict[str, dict[str, TokenUsage]] = {}
        counts: dict[str, int] = {}
        for agent, model, tokens in calls:
            models = per_agent.setdefault(agent, {})
            models[model] = models.get(model, TokenUsage()) + tokens
            counts[agent] = counts.get(agent, 0) + 1
        agents: dict[str, AgentUsage] = {}
        unpriced_all: list[str] = []
        for agent, models in per_agent.items():
            cost, unpriced = 0.0, []
            for model, tokens in models.items():
                price = prices.lookup(model)
                if price is None:
                    unpriced.append(model)
                else:
                    cost += price.cost(tokens)
            total = sum(models.values(), TokenUsage())
            agents[agent] = AgentUsage(agent, counts[agent], total, dict(models), cost, tuple(unpriced))
            unpriced_all += [m for m in unpriced if m not in unpriced_all]
        return cls(
            agents,
            sum((a.tokens for a in agents.values()), TokenUsage()),
            sum(counts.values()),
            sum(a.cost_usd for a in agents.values()),
            tuple(unpriced_all),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            **self.tokens.to_json(),
            "cost_usd": self.cost_usd,
            "unpriced": list(self.unpriced),
            "agents": [a.to_json() for a in self.agents.values()],
        }


def tokens_of_result(result: Any) -> TokenUsage | None:
    """The usage in a model step's result (a ``ModelResponse`` or a Responses API ``Response``, as JSON)."""
    return TokenUsage.from_json(result.get("usage")) if isinstance(result, Mapping) else None


def usage(steps: Iterable[StepInfo] | None = None) -> RunUsage:
    """Token usage and cost of a run.

    Outside a workflow, pass the run's steps: ``stead.usage(await engine.steps(run_id))``. Inside a workflow,
    without arguments: the usage of the run so far (the model calls whose results the workflow has received).
    """
    if steps is None:
        scope = require_scope("usage")
        return _ledger(scope.runtime).usage()
    calls: list[tuple[str, str, TokenUsage]] = []
    for step in steps:
        if step.kind != "model" or step.status != "done":
            continue
        agent = step.attributes.agent
        tokens = tokens_of_result(step.result)
        if agent is not None and tokens is not None:
            calls.append((agent, step.attributes.model or "unknown", tokens))
    return RunUsage.of(calls)


# -- budgets --------------------------------------------------------------------------------------------------


BUDGET_STATE = "stead.budget"
"""The key of the run's state under which :func:`budget` publishes the limits."""


@dataclass(frozen=True)
class Budget:
    """Limits on a run's model usage (see :func:`budget`)."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None


class _Ledger:
    """The model calls a run's workflow code has seen so far, and its budget."""

    __slots__ = ("budget", "calls", "warned", "__weakref__")

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, TokenUsage]] = []
        self.budget: Budget | None = None
        self.warned: set[str] = set()

    def usage(self) -> RunUsage:
        return RunUsage.of(self.calls)


_ledgers: weakref.WeakKeyDictionary[Any, _Ledger] = weakref.WeakKeyDictionary()


def _ledger(runtime: RunRuntime) -> _Ledger:
    ledger = _ledgers.get(runtime)
    if ledger is None:
        ledger = _ledgers[runtime] = _Ledger()
    return ledger


def budget(max_tokens: int | None = None, max_cost_usd: float | None = None) -> Budget:
    """Limit the run's model usage: the tokens of all its model calls, their cost in USD, or both.

    Call it in workflow code, before the agents it should limit run (calling it again replaces the limits).
    Before each model call, the usage so far is compared with the limits; when they are reached, or the next
    call would certainly exceed them (it re-sends at least the previous call's input), the call is not made and
    ``stead.BudgetExceeded`` is raised from ``Runner.run``. The decision is recorded as a failed model step, so
    a replay raises it at the same point. Catch it to finish the run in another way. The limits are published
    in the run's state (key ``stead.budget``), where ``stead show`` and the dashboard read how much is left.
    """
    scope = require_scope("budget")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0
    ):
        raise UsageError(f"stead.budget(max_tokens=…) must be a positive integer, got {max_tokens!r}")
    if max_cost_usd is not None and (
        isinstance(max_cost_usd, bool) or not isinstance(max_cost_usd, int | float) or not max_cost_usd > 0
    ):
        raise UsageError(f"stead.budget(max_cost_usd=…) must be a positive number, got {max_cost_usd!r}")
    limits = Budget(max_tokens, None if max_cost_usd is None else float(max_cost_usd))
    _ledger(scope.runtime).budget = limits
    # Published, so that outsiders (``stead show``, the dashboard) can tell how much of it is left.
    scope.runtime.publish(
        BUDGET_STATE, {"max_tokens": limits.max_tokens, "max_cost_usd": limits.max_cost_usd}
    )
    return limits


def record_model_call(runtime: RunRuntime, agent: str, model: str, result: Any) -> TokenUsage | None:
    """Count a model step's result (live or replayed) in the run's usage so far."""
    tokens = tokens_of_result(result)
    if tokens is not None:
        _ledger(runtime).calls.append((agent, model, tokens))
    return tokens


def check_budget(runtime: RunRuntime, agent: str, model: str, next_input: int) -> BudgetExceeded | None:
    """Whether the run's budget allows a model call of ``agent`` that sends at least ``next_input`` tokens."""
    ledger = _ledgers.get(runtime)
    if ledger is None or ledger.budget is None:
        return None
    limits = ledger.budget
    so_far = ledger.usage()
    if limits.max_tokens is not None:
        spent = so_far.total_tokens
        if spent >= limits.max_tokens:
            return BudgetExceeded("tokens", spent, limits.max_tokens, 0, agent, so_far.calls)
        if spent + next_input > limits.max_tokens:
            return BudgetExceeded("tokens", spent, limits.max_tokens, next_input, agent, so_far.calls)
    if limits.max_cost_usd is not None:
        spent_usd = so_far.cost_usd
        price = prices.lookup(model)
        if price is None and model not in ledger.warned:
            ledger.warned.add(model)
            logger.warning(
                "stead: no price for model %r: its calls count as costing nothing against the run's cost budget "
                "(add it with stead.prices.update or STEAD_PRICES)",
                model,
            )
        next_usd = price.cost(TokenUsage(input_tokens=next_input)) if price is not None else 0.0
        if spent_usd >= limits.max_cost_usd:
            return BudgetExceeded("cost_usd", spent_usd, limits.max_cost_usd, 0, agent, so_far.calls)
        if spent_usd + next_usd > limits.max_cost_usd:
            return BudgetExceeded("cost_usd", spent_usd, limits.max_cost_usd, next_usd, agent, so_far.calls)
    return None
