"""Single-agent and sequential programs, after the SDK's basic/ and agent_patterns/ examples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from agents import Agent, RunContextWrapper, Runner, TResponseInputItem, function_tool
from pydantic import BaseModel

from stead.testing import FakeRequest, ReplyLike, ToolCall

from ._kit import effect, program, tag, user_texts

# -- hello world, twice: a haiku, then a critique of it ---------------------------------------------------------


def hello_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "poet":
        return "Code calls itself; loops wind round and round, then one day: the base case, at last."
    return f"A fine haiku of {len(request.input_text.split())} words."


@program("hello", hello_script, expect={"haiku": hello_script("poet", None)})  # type: ignore[arg-type]
async def hello() -> dict[str, Any]:
    poet = Agent(
        name="Poet", instructions=tag("hello", "poet", "You only respond in haikus."), model="gpt-4o-mini"
    )
    critic = Agent(
        name="Critic", instructions=tag("hello", "critic", "Judge the haiku."), model="gpt-4o-mini"
    )
    haiku = await Runner.run(poet, "Tell me about recursion in programming.")
    review = await Runner.run(critic, str(haiku.final_output))
    return {"haiku": haiku.final_output, "review": review.final_output, "agent": review.last_agent.name}


# -- structured output: extract an event, then plan around it ---------------------------------------------------


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


def structured_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "extractor":
        return json.dumps({"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]})
    return f"Plan: {request.input_text}; book a room."


@program(
    "structured",
    structured_script,
    expect={"event": {"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}},
)
async def structured() -> dict[str, Any]:
    extractor = Agent(
        name="Calendar extractor",
        instructions=tag("structured", "extractor", "Extract calendar events from text."),
        output_type=CalendarEvent,
        model="gpt-4o-mini",
    )
    planner = Agent(
        name="Planner", instructions=tag("structured", "planner", "Plan it."), model="gpt-4o-mini"
    )
    found = await Runner.run(extractor, "Alice and Bob are going to a science fair on Friday.")
    event = found.final_output_as(CalendarEvent)
    plan = await Runner.run(planner, f"{event.name} on {event.date} with {', '.join(event.participants)}")
    return {"event": event.model_dump(), "type": type(found.final_output).__name__, "plan": plan.final_output}


# -- deterministic flow: outline, check it, write the story only if it passes -----------------------------------


class OutlineCheck(BaseModel):
    good_quality: bool
    is_scifi: bool


def deterministic_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "outline":
        return "A lighthouse keeper finds a signal from a drowned city."
    if agent == "checker":
        return json.dumps({"good_quality": True, "is_scifi": "signal" in request.input_text})
    return f"Story: {request.input_text} The end."


@program(
    "deterministic",
    deterministic_script,
    park_after=2,
    expect={"check": {"good_quality": True, "is_scifi": True}},
)
async def deterministic() -> dict[str, Any]:
    outline_agent = Agent(
        name="outline", instructions=tag("deterministic", "outline", "Outline a story."), model="gpt-4o-mini"
    )
    checker = Agent(
        name="checker",
        instructions=tag("deterministic", "checker", "Check the outline."),
        output_type=OutlineCheck,
        model="gpt-4o-mini",
    )
    writer = Agent(
        name="writer", instructions=tag("deterministic", "writer", "Write the story."), model="gpt-4o-mini"
    )
    outline = await Runner.run(outline_agent, "A story about the sea.")
    check = await Runner.run(checker, outline.final_output)
    verdict = check.final_output_as(OutlineCheck)
    if not (verdict.good_quality and verdict.is_scifi):
        return {"check": verdict.model_dump(), "story": None}
    story = await Runner.run(writer, outline.final_output)
    return {"check": verdict.model_dump(), "story": story.final_output}


# -- a plain function tool ----------------------------------------------------------------------------------------


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    effect(f"tools:get_weather {city}")
    return f"The weather in {city} is sunny."


def tools_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"Reported: {request.last_tool_outputs[-1].output}"
    return ToolCall("get_weather", {"city": "Tokyo"}, call_id="call_tools_1")


@program("tools", tools_script, expect={"final": "Reported: The weather in Tokyo is sunny."})
async def tools() -> dict[str, Any]:
    agent = Agent(
        name="Hello world",
        instructions=tag("tools", "main", "You are a helpful agent."),
        tools=[get_weather],
        model="gpt-4o-mini",
    )
    result = await Runner.run(agent, "What's the weather in Tokyo?")
    return {"final": result.final_output, "items": [i.type for i in result.new_items]}


# -- dynamic instructions from a dataclass context --------------------------------------------------------------


@dataclass
class CustomContext:
    style: Literal["haiku", "pirate", "robot"]


def custom_instructions(run_context: RunContextWrapper[CustomContext], agent: Agent[CustomContext]) -> str:
    style = run_context.context.style
    return tag("dynamic", style, f"Respond as a {style}.")


def dynamic_script(agent: str, request: FakeRequest) -> ReplyLike:
    return {"haiku": "Hello, gentle friend", "pirate": "Ahoy, matey!", "robot": "BEEP. GREETINGS."}[agent]


@program(
    "dynamic",
    dynamic_script,
    expect={"answers": ["Hello, gentle friend", "Ahoy, matey!", "BEEP. GREETINGS."]},
)
async def dynamic() -> dict[str, Any]:
    agent = Agent[CustomContext](name="Chat agent", instructions=custom_instructions, model="gpt-4o-mini")
    answers = []
    for style in ("haiku", "pirate", "robot"):
        result = await Runner.run(agent, "Tell me a joke.", context=CustomContext(style=style))  # type: ignore[arg-type]
        answers.append(result.final_output)
    return {"answers": answers}


# -- LLM as a judge: generate, evaluate, loop until the judge passes it -----------------------------------------


class EvaluationFeedback(BaseModel):
    feedback: str
    score: Literal["pass", "needs_improvement", "fail"]


def judge_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "generator":
        attempt = sum(1 for t in user_texts(request) if t.startswith("Feedback:"))
        return f"Story draft {attempt + 1}"
    if "draft 1" in request.input_text:
        return json.dumps({"feedback": "More suspense.", "score": "needs_improvement"})
    return json.dumps({"feedback": "Good.", "score": "pass"})


@program("judge", judge_script, park_after=2, expect={"story": "Story draft 2", "rounds": 2})
async def judge() -> dict[str, Any]:
    generator = Agent(
        name="story_outline_generator",
        model="gpt-4o-mini",
        instructions=tag("judge", "generator", "Write a short story outline."),
    )
    evaluator = Agent[None](
        name="evaluator",
        model="gpt-4o-mini",
        output_type=EvaluationFeedback,
        instructions=tag("judge", "evaluator", "Evaluate the outline."),
    )
    input_items: list[TResponseInputItem] = [{"content": "A story about a heist.", "role": "user"}]
    rounds, latest = 0, ""
    while rounds < 4:
        rounds += 1
        story = await Runner.run(generator, input_items)
        input_items = story.to_input_list()
        latest = str(story.final_output)
        verdict = (await Runner.run(evaluator, latest)).final_output_as(EvaluationFeedback)
        if verdict.score == "pass":
            break
        input_items.append({"content": f"Feedback: {verdict.feedback}", "role": "user"})
    return {"story": latest, "rounds": rounds}
