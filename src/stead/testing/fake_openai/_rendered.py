"""A reply with ids and token counts assigned: what both APIs' payloads are rendered from."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ._replies import Reply, Text
from ._requests import FakeRequest

__all__ = ["Call", "Rendered", "render"]


@dataclass(frozen=True)
class Call:
    item_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Rendered:
    """A reply with ids and token counts assigned, ready to be serialised."""

    response_id: str
    created: int
    items: list[tuple[str, Text | Call]]  # (item id, item)
    input_tokens: int
    output_tokens: int


def render(request: FakeRequest, reply: Reply, next_id: Callable[[str], int]) -> Rendered:
    """Assign ids (from the server's counters, through ``next_id``) and token counts to ``reply``."""
    prefix = "resp_fake_" if request.api == "responses" else "chatcmpl-fake-"
    items: list[tuple[str, Text | Call]] = []
    for item in reply.items:
        if isinstance(item, Text):
            item_id = f"msg_fake_{next_id('item')}"
            items.append((item_id, item))
        else:
            item_id = f"fc_fake_{next_id('item')}"
            call_id = item.call_id or f"call_fake_{next_id('call')}"
            items.append((item_id, Call(item_id, call_id, item.name, item.arguments_json)))
    if reply.usage is not None:
        input_tokens, output_tokens = reply.usage.input_tokens, reply.usage.output_tokens
    else:
        input_tokens = request.input_words
        output_tokens = sum(
            len((item.text if isinstance(item, Text) else item.arguments).split()) for _, item in items
        )
    return Rendered(
        response_id=f"{prefix}{next_id('response')}",
        created=int(time.time()),
        items=items,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
