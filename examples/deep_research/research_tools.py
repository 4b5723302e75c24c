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
    "movable type before gutenberg": [
        "Bi Sheng made movable type from baked clay in China around 1040, as Shen Kuo recorded in his "
        "Dream Pool Essays.",
        "The Jikji, printed in Korea in 1377, is the oldest surviving book printed with movable metal type.",
    ],
    "gutenberg printing press invention": [
        "Johannes Gutenberg developed his press in Mainz around 1440-1450: a hand mould for casting metal "
        "type, an oil-based ink, and a screw press adapted from those used for wine and paper.",
        "The Gutenberg Bible, finished around 1455, was printed in about 180 copies.",
    ],
    "spread of printing in europe 15th century": [
        "By 1500 printing shops worked in more than 250 European towns and had produced millions of copies "
        "of some 30,000 editions, the books now called incunabula.",
        "Venice became the leading centre of printing; Aldus Manutius introduced italic type and small, "
        "portable editions of the classics.",
    ],
    "printing press impact on reformation and science": [
        "Luther's writings made up about a third of all German-language books sold between 1518 and 1525.",
        "Identical printed copies let scholars compare data and build on each other's work, a change "
        "Elizabeth Eisenstein credits in 'The Printing Press as an Agent of Change' (1979).",
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
