"""The search agent's tool: ``web_search``, answering from canned snippets (this example makes no web requests).

Swap the body for a real search API (Tavily, Brave, SerpAPI, ...) to research for real; the tool call stays a
journaled step, so a resumed run never repeats a search that finished.
"""

from __future__ import annotations

from agents import function_tool

#: The queries ``web_search`` really ran for in this process, in order. A replayed run reads the journal instead.
executed: list[str] = []

#: Canned results, by search query; other queries get a generic snippet.
SNIPPETS: dict[str, list[str]] = {
    "heat pump efficiency at low temperatures": [
        "Cold-climate air-source heat pumps keep a coefficient of performance (COP) of about 2 at -15°C "
        "and still deliver heat down to -25°C (field study, 2023).",
        "Efficiency falls as the outdoor temperature drops; variable-speed compressors limit the loss.",
    ],
    "heat pump running costs vs gas boiler": [
        "With an average seasonal COP of 3, a heat pump costs about the same to run as a gas boiler at "
        "electricity-to-gas price ratios near 3:1, and less below that.",
        "Time-of-use tariffs cut running costs by 15-25% for households that pre-heat off-peak.",
    ],
    "heat pump installation cost and grants": [
        "Typical installed cost for a 3-bedroom house: 10,000-15,000 EUR before subsidies.",
        "Grants and tax credits cover 30-50% of the cost in several European countries and US states.",
    ],
}


def search(query: str) -> str:
    """The canned search results for ``query``, as the tool returns them."""
    snippets = SNIPPETS.get(query.strip().lower()) or [
        f"No canned results for {query!r}; this example's search is offline."
    ]
    lines = [f"[{i}] {snippet}" for i, snippet in enumerate(snippets, 1)]
    return f"Results for {query!r}:\n" + "\n".join(lines)


@function_tool
def web_search(query: str) -> str:
    """Search the web and return the top result snippets.

    Args:
        query: The search query.
    """
    executed.append(query)
    return search(query)
