"""How the CLI shows token usage and cost: the usage section of ``stead show`` and the tokens of ``stead ls``."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ._usage import RunUsage, prices

__all__ = ["fmt_cost", "fmt_tokens", "usage_section"]


def fmt_tokens(count: int, *, compact: bool = False) -> str:
    if not compact or count < 10_000:
        return f"{count:,}"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def fmt_cost(usd: float) -> str:
    return f"${usd:,.4f}" if usd >= 0.01 else f"${usd:.6f}"


def usage_section(usage: RunUsage) -> list[RenderableType]:
    """The model usage of a run, per agent and model, with cost; nothing when the run called no model."""
    if not usage.calls:
        return []
    title = (
        f"\nusage ({usage.calls} model call{'s' if usage.calls != 1 else ''} · "
        f"{fmt_tokens(usage.total_tokens)} tokens · {fmt_cost(usage.cost_usd)}"
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
                fmt_tokens(tokens.requests),
                fmt_tokens(tokens.input_tokens),
                fmt_tokens(tokens.cached_input_tokens),
                fmt_tokens(tokens.output_tokens),
                fmt_tokens(tokens.reasoning_tokens),
                fmt_tokens(tokens.total_tokens),
                fmt_cost(price.cost(tokens)) if price is not None else Text("unpriced", style="yellow"),
            )
    if len(usage.agents) > 1 or any(len(a.by_model) > 1 for a in usage.agents.values()):
        total = usage.tokens
        table.add_row(
            Text("total", style="bold"),
            "",
            str(usage.calls),
            fmt_tokens(total.requests),
            fmt_tokens(total.input_tokens),
            fmt_tokens(total.cached_input_tokens),
            fmt_tokens(total.output_tokens),
            fmt_tokens(total.reasoning_tokens),
            fmt_tokens(total.total_tokens),
            fmt_cost(usage.cost_usd),
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
