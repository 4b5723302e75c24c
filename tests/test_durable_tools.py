"""The journaled wrapper of a function tool is made once per tool object, and made again when the tool changes.

The SDK takes an agent's tool inventory several times a turn; stead keeps each tool's wrapper on the tool instead
of copying the tool (and re-running its schema normalisation) every time.
"""

from __future__ import annotations

import copy

from agents import FunctionTool, function_tool

from stead.agents._tools import durable_tools


def test_a_tool_is_wrapped_once_while_it_does_not_change() -> None:
    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    first = durable_tools([lookup])[0]
    assert first is not lookup
    assert durable_tools([lookup])[0] is first
    assert durable_tools([first])[0] is first  # already journaled

    lookup.description = "Look a key up, in the new index."
    changed = durable_tools([lookup])[0]
    assert isinstance(changed, FunctionTool)
    assert changed is not first
    assert changed.description == "Look a key up, in the new index."
    assert durable_tools([lookup])[0] is changed

    twin = copy.copy(lookup)  # a copy is a tool of its own, whatever the original carried
    assert durable_tools([twin])[0] is not changed
    assert durable_tools([twin])[0] is durable_tools([twin])[0]
