"""Programs whose tools return typed values or whose tools and hooks change the run context, and tool_use_behavior
variants."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agents import (
    Agent,
    AgentHooks,
    FunctionToolResult,
    ModelSettings,
    RunContextWrapper,
    RunHooks,
    Runner,
    StopAtTools,
    Tool,
    ToolsToFinalOutputResult,
    function_tool,
    handoff,
)
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX
from pydantic import BaseModel

from stead.testing import FakeRequest, ReplyLike, ToolCall

from ._kit import effect, program, tag

# -- forcing tool use, three ways, with a tool that returns a pydantic model -----------------------------------


class Weather(BaseModel):
    city: str
    temperature_range: str
    conditions: str


@function_tool
def get_weather(city: str) -> Weather:
    """The weather in a city."""
    effect(f"forcing:get_weather {city}")
    return Weather(city=city, temperature_range="14-20C", conditions="Sunny with wind")


async def custom_tool_use_behavior(
    context: RunContextWrapper[Any], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    weather: Weather = results[0].output
    return ToolsToFinalOutputResult(
        is_final_output=True, final_output=f"{weather.city} is {weather.conditions}."
    )


def forcing_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"Model saw: {request.last_tool_outputs[-1].output}"
    return ToolCall("get_weather", {"city": "Tokyo"}, call_id=f"call_forcing_{agent}")


@program(
    "forcing",
    forcing_script,
    park_after=2,
    expect={
        "default": "Model saw: city='Tokyo' temperature_range='14-20C' conditions='Sunny with wind'",
        "first_tool": "city='Tokyo' temperature_range='14-20C' conditions='Sunny with wind'",
        "custom": "Tokyo is Sunny with wind.",
    },
)
async def forcing() -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    behaviors: dict[str, Any] = {
        "default": "run_llm_again",
        "first_tool": "stop_on_first_tool",
        "custom": custom_tool_use_behavior,
    }
    for label, behavior in behaviors.items():
        agent = Agent(
            name="Weather agent",
            instructions=tag("forcing", label, "You are a helpful agent."),
            tools=[get_weather],
            tool_use_behavior=behavior,
            model_settings=ModelSettings(tool_choice="required" if label != "default" else None),
            model="gpt-4o-mini",
        )
        result = await Runner.run(agent, input="What's the weather in Tokyo?")
        final = result.final_output
        outcomes[label] = final if isinstance(final, str) else f"{type(final).__name__}: {final}"
    return outcomes


# -- StopAtTools: the first call of a named tool ends the run ----------------------------------------------------


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    effect(f"stop_at:lookup_order {order_id}")
    return f"order {order_id}: 2 mugs, shipped"


@function_tool
def file_return(order_id: str, reason: str) -> str:
    """File a return; ends the conversation."""
    effect(f"stop_at:file_return {order_id}")
    return f"return filed for {order_id} ({reason})"


def stop_at_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return ToolCall("file_return", {"order_id": "A-7", "reason": "broken"}, call_id="call_stop_at_2")
    return ToolCall("lookup_order", {"order_id": "A-7"}, call_id="call_stop_at_1")


@program("stop_at", stop_at_script, expect={"final": "return filed for A-7 (broken)"})
async def stop_at() -> dict[str, Any]:
    agent = Agent(
        name="Returns",
        instructions=tag("stop_at", "main", "Handle returns."),
        tools=[lookup_order, file_return],
        tool_use_behavior=StopAtTools(stop_at_tool_names=["file_return"]),
        model="gpt-4o-mini",
    )
    result = await Runner.run(agent, "My mugs from order A-7 arrived broken.")
    return {"final": result.final_output, "items": [i.type for i in result.new_items]}


# -- a tool returning a dataclass, read by the model and by a custom tool_use_behavior -------------------------


@dataclass
class Forecast:
    city: str
    high: int
    days: list[str] = field(default_factory=lambda: ["mon", "tue"])


@function_tool
def forecast(city: str) -> Forecast:
    """A two-day forecast."""
    effect(f"tool_dataclass:forecast {city}")
    return Forecast(city=city, high=21)


async def highs(
    context: RunContextWrapper[Any], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    fc: Forecast = results[0].output
    return ToolsToFinalOutputResult(is_final_output=True, final_output=f"{fc.city} peaks at {fc.high}C")


def dataclass_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"The model read: {request.last_tool_outputs[-1].output}"
    return ToolCall("forecast", {"city": "Oslo"}, call_id=f"call_dataclass_{agent}")


@program(
    "tool_dataclass",
    dataclass_script,
    park_after=2,
    expect={"custom": "Oslo peaks at 21C"},
)
async def tool_dataclass() -> dict[str, Any]:
    talker = Agent(
        name="Talker",
        instructions=tag("tool_dataclass", "talker", "Forecasts."),
        tools=[forecast],
        model="gpt-4o-mini",
    )
    reader = Agent(
        name="Reader",
        instructions=tag("tool_dataclass", "reader", "Forecasts."),
        tools=[forecast],
        tool_use_behavior=highs,
        model="gpt-4o-mini",
    )
    told = await Runner.run(talker, "Forecast for Oslo?")
    read = await Runner.run(reader, "Forecast for Oslo?")
    return {"model": told.final_output, "custom": read.final_output}


# -- customer service: an on_handoff callback and a tool change a pydantic context -----------------------------


class AirlineAgentContext(BaseModel):
    passenger_name: str | None = None
    confirmation_number: str | None = None
    seat_number: str | None = None
    flight_number: str | None = None


@function_tool
async def update_seat(
    context: RunContextWrapper[AirlineAgentContext], confirmation_number: str, new_seat: str
) -> str:
    """Update the seat for a confirmation number."""
    effect(f"airline:update_seat {confirmation_number} {new_seat}")
    context.context.confirmation_number = confirmation_number
    context.context.seat_number = new_seat
    assert context.context.flight_number is not None, "Flight number is required"
    return f"Updated seat to {new_seat} for confirmation number {confirmation_number}"


async def on_seat_booking_handoff(context: RunContextWrapper[AirlineAgentContext]) -> None:
    context.context.flight_number = "FLT-123"


def airline_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "triage":
        return ToolCall("transfer_to_seat_booking_agent", {}, call_id="call_airline_1")
    if any(o.name == "update_seat" for o in request.last_tool_outputs):
        return "Your seat is now 14C."
    return ToolCall(
        "update_seat", {"confirmation_number": "ABC123", "new_seat": "14C"}, call_id="call_airline_2"
    )


@program(
    "airline",
    airline_script,
    park_after=2,
    expect={
        "context": {
            "passenger_name": "Ada",
            "confirmation_number": "ABC123",
            "seat_number": "14C",
            "flight_number": "FLT-123",
        }
    },
)
async def airline() -> dict[str, Any]:
    seat_booking = Agent[AirlineAgentContext](
        name="Seat Booking Agent",
        handoff_description="Updates a seat on a flight.",
        tools=[update_seat],
        instructions=tag("airline", "seats", f"{RECOMMENDED_PROMPT_PREFIX} You are a seat booking agent."),
        model="gpt-4o-mini",
    )
    triage = Agent[AirlineAgentContext](
        name="Triage Agent",
        model="gpt-4o-mini",
        instructions=tag("airline", "triage", f"{RECOMMENDED_PROMPT_PREFIX} You are a triaging agent."),
        handoffs=[
            handoff(
                agent=seat_booking,
                on_handoff=on_seat_booking_handoff,
                tool_name_override="transfer_to_seat_booking_agent",
            )
        ],
    )
    context = AirlineAgentContext(passenger_name="Ada")
    result = await Runner.run(
        triage, "I want to change my seat to 14C, confirmation ABC123.", context=context
    )
    return {"final": result.final_output, "agent": result.last_agent.name, "context": context.model_dump()}


# -- a dataclass context filled by tool calls over several turns -----------------------------------------------


@dataclass
class Cart:
    items: list[str] = field(default_factory=list)
    total: float = 0.0


@function_tool
def add_item(ctx: RunContextWrapper[Cart], item: str, price: float) -> str:
    """Put an item in the cart."""
    effect(f"cart:add_item {item}")
    ctx.context.items.append(item)
    ctx.context.total += price
    return f"{item} added; {len(ctx.context.items)} items"


def cart_script(agent: str, request: FakeRequest) -> ReplyLike:
    done = [o for o in request.tool_outputs if o.name == "add_item"]
    wanted = [("apple", 0.5), ("pear", 0.75)]
    if len(done) < len(wanted):
        item, price = wanted[len(done)]
        return ToolCall("add_item", {"item": item, "price": price}, call_id=f"call_cart_{len(done) + 1}")
    return f"Cart ready: {done[-1].output}"


@program(
    "cart",
    cart_script,
    park_after=2,
    expect={"cart": {"items": ["apple", "pear"], "total": 1.25}},
)
async def cart() -> dict[str, Any]:
    agent = Agent[Cart](
        name="Shopper",
        instructions=tag("cart", "main", "Fill the cart."),
        tools=[add_item],
        model="gpt-4o-mini",
    )
    basket = Cart()
    result = await Runner.run(agent, "An apple and a pear, please.", context=basket)
    return {"final": result.final_output, "cart": asdict(basket)}


# -- lifecycle hooks that keep their notes in the run context (after the SDK's lifecycle example) ----------------


class Journey(BaseModel):
    """What the hooks saw, kept in a pydantic context."""

    agents: list[str] = []
    llm_calls: int = 0
    tools: list[str] = []
    results: dict[str, str] = {}
    handoffs: list[str] = []
    final: str | None = None


class JourneyHooks(RunHooks[Journey]):
    async def on_agent_start(self, context: RunContextWrapper[Journey], agent: Agent[Journey]) -> None:
        effect(f"hook_context:agent_start {agent.name}")
        context.context.agents.append(agent.name)

    async def on_llm_start(
        self, context: RunContextWrapper[Journey], agent: Agent[Journey], system_prompt: Any, input_items: Any
    ) -> None:
        effect(f"hook_context:llm_start {agent.name}")
        context.context.llm_calls += 1

    async def on_tool_start(
        self, context: RunContextWrapper[Journey], agent: Agent[Journey], tool: Tool
    ) -> None:
        effect(f"hook_context:tool_start {tool.name}")
        context.context.tools.append(tool.name)

    async def on_tool_end(
        self, context: RunContextWrapper[Journey], agent: Agent[Journey], tool: Tool, result: object
    ) -> None:
        effect(f"hook_context:tool_end {tool.name}")
        context.context.results[tool.name] = str(result)

    async def on_handoff(
        self, context: RunContextWrapper[Journey], from_agent: Agent[Journey], to_agent: Agent[Journey]
    ) -> None:
        effect(f"hook_context:handoff {to_agent.name}")
        context.context.handoffs.append(f"{from_agent.name} -> {to_agent.name}")

    async def on_agent_end(
        self, context: RunContextWrapper[Journey], agent: Agent[Journey], output: Any
    ) -> None:
        effect(f"hook_context:agent_end {agent.name}")
        context.context.final = str(output)


@dataclass
class Tally:
    """What an agent's own hooks count, in a dataclass context."""

    starts: int = 0
    ends: int = 0
    used: list[str] = field(default_factory=list)


class TallyHooks(AgentHooks[Tally]):
    async def on_start(self, context: RunContextWrapper[Tally], agent: Agent[Tally]) -> None:
        effect(f"hook_context:tally start {agent.name}")
        context.context.starts += 1

    async def on_tool_end(
        self, context: RunContextWrapper[Tally], agent: Agent[Tally], tool: Any, result: object
    ) -> None:
        effect(f"hook_context:tally tool_end {tool.name}")
        context.context.used.append(f"{tool.name}={result}")

    async def on_end(self, context: RunContextWrapper[Tally], agent: Agent[Tally], output: Any) -> None:
        effect(f"hook_context:tally end {agent.name}")
        context.context.ends += 1


@function_tool
def pick_number(max: int) -> int:
    """A number from 0 to max."""
    effect("hook_context:pick_number")
    return 37


@function_tool
def double(x: int) -> int:
    """x times two."""
    effect("hook_context:double")
    return x * 2


def hook_context_script(agent: str, request: FakeRequest) -> ReplyLike:
    names = [o.name for o in request.tool_outputs]
    if agent == "start":
        if "pick_number" in names:
            return ToolCall("transfer_to_double_agent", {}, call_id="call_hook_context_2")
        return ToolCall("pick_number", {"max": 50}, call_id="call_hook_context_1")
    if agent == "double":
        if "double" in names:
            return "74"
        return ToolCall("double", {"x": 37}, call_id="call_hook_context_3")
    if "double" in names:
        return "Doubled twice: 148"
    return ToolCall("double", {"x": 74}, call_id="call_hook_context_4")


@program(
    "hook_context",
    hook_context_script,
    park_after=5,
    expect={
        "journey": {
            "agents": ["Start Agent", "Double Agent"],
            "llm_calls": 4,
            "tools": ["pick_number", "double"],
            "results": {"pick_number": "37", "double": "74"},
            "handoffs": ["Start Agent -> Double Agent"],
            "final": "74",
        },
        "tally": {"starts": 1, "ends": 1, "used": ["double=148"]},
    },
)
async def hook_context() -> dict[str, Any]:
    doubler = Agent[Journey](
        name="Double Agent",
        instructions=tag("hook_context", "double", "Double the number."),
        tools=[double],
        model="gpt-4o-mini",
    )
    start = Agent[Journey](
        name="Start Agent",
        instructions=tag("hook_context", "start", "Pick a number, then hand it to the doubler."),
        tools=[pick_number],
        handoffs=[doubler],
        model="gpt-4o-mini",
    )
    journey = Journey()
    first = await Runner.run(start, "Pick a number and double it.", context=journey, hooks=JourneyHooks())
    counter = Agent[Tally](
        name="Counter",
        instructions=tag("hook_context", "counter", "Double the number again."),
        tools=[double],
        hooks=TallyHooks(),
        model="gpt-4o-mini",
    )
    tally = Tally()
    second = await Runner.run(counter, f"Double {first.final_output}.", context=tally)
    return {
        "final": [first.final_output, second.final_output],
        "journey": journey.model_dump(),
        "tally": asdict(tally),
    }
