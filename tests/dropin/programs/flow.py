"""Multi-agent programs: handoffs, agents as tools, guardrails, and concurrent runs (gather, races)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    HandoffInputData,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    RunContextWrapper,
    Runner,
    RunResult,
    RunResultStreaming,
    TResponseInputItem,
    function_tool,
    handoff,
    input_guardrail,
    output_guardrail,
)
from agents.extensions import handoff_filters
from pydantic import BaseModel

from stead.testing import FakeRequest, Reply, ReplyLike, ToolCall

from ._kit import after, effect, program, tag, user_texts

# -- handoff with an input filter (the message_filter sample) ----------------------------------------------------


@function_tool
def random_number_tool(max: int) -> int:
    """A number between 0 and max."""
    effect(f"handoff_filter:random_number {max}")
    return max // 2 + 1


def spanish_filter(data: HandoffInputData) -> HandoffInputData:
    data = handoff_filters.remove_all_tools(data)
    history = tuple(data.input_history[2:]) if isinstance(data.input_history, tuple) else data.input_history
    return HandoffInputData(
        input_history=history,
        pre_handoff_items=tuple(data.pre_handoff_items),
        new_items=tuple(data.new_items),
    )


def filter_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "first":
        if request.last_tool_outputs:
            return "The number is 51. ¿Hablas español?"
        if any("español" in t for t in user_texts(request)):
            return ToolCall("transfer_to_spanish_assistant", {}, call_id="call_filter_2")
        return ToolCall("random_number_tool", {"max": 100}, call_id="call_filter_1")
    kinds = sorted(
        {str(e.get("type", "message")) for e in request.body.get("input", []) if isinstance(e, dict)}
    )
    return f"Hola. Vi {len(user_texts(request))} mensajes; tipos: {', '.join(kinds)}"


@program("handoff_filter", filter_script, park_after=2)
async def handoff_filter() -> dict[str, Any]:
    spanish = Agent(
        name="Spanish Assistant",
        model="gpt-4o-mini",
        instructions=tag("handoff_filter", "spanish", "Only speak Spanish."),
        handoff_description="A Spanish speaking assistant.",
    )
    first = Agent(
        name="Assistant",
        model="gpt-4o-mini",
        tools=[random_number_tool],
        instructions=tag("handoff_filter", "first", "Be extremely concise."),
        handoffs=[handoff(spanish, input_filter=spanish_filter)],
    )
    result = await Runner.run(first, "Hi, my name is Sora. Pick a number up to 100.")
    convo: list[TResponseInputItem] = result.to_input_list()
    convo.append({"content": "Can I speak to someone in español?", "role": "user"})
    result = await Runner.run(first, convo)
    return {"final": result.final_output, "last_agent": result.last_agent.name}


# -- routing: a triage agent hands off by language --------------------------------------------------------------


def routing_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "triage":
        lang = "french" if "Bonjour" in request.input_text else "english"
        return ToolCall(f"transfer_to_{lang}_agent", {}, call_id=f"call_routing_{lang}")
    return {"french": "Bonjour! Comment puis-je aider?", "english": "Hello! How can I help?"}[agent]


@program(
    "routing",
    routing_script,
    expect={
        "answers": [
            ["French agent", "Bonjour! Comment puis-je aider?"],
            ["English agent", "Hello! How can I help?"],
        ]
    },
)
async def routing() -> dict[str, Any]:
    french = Agent(
        name="French agent",
        instructions=tag("routing", "french", "You only speak French"),
        model="gpt-4o-mini",
    )
    english = Agent(
        name="English agent",
        instructions=tag("routing", "english", "You only speak English"),
        model="gpt-4o-mini",
    )
    triage = Agent(
        name="triage_agent",
        instructions=tag("routing", "triage", "Handoff by language."),
        handoffs=[french, english],
        model="gpt-4o-mini",
    )
    answers = []
    for message in ("Bonjour, je voudrais de l'aide.", "Hi, I need help."):
        result = await Runner.run(triage, message)
        answers.append([result.last_agent.name, result.final_output])
    return {"answers": answers}


# -- agents as tools, with a custom output extractor ------------------------------------------------------------


class Translation(BaseModel):
    language: str
    text: str


async def text_only(result: RunResult | RunResultStreaming) -> str:
    return f"<<{result.final_output_as(Translation).text}>>"


def as_tools_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "spanish":
        return json.dumps({"language": "es", "text": "Hola, ¿cómo estás?"})
    if agent == "french":
        return json.dumps({"language": "fr", "text": "Bonjour, comment ça va ?"})
    if agent == "orchestrator":
        outputs = request.last_tool_outputs
        if outputs:
            return "Translations: " + " | ".join(o.output for o in outputs)
        return Reply(
            ToolCall("translate_to_spanish", {"input": "Hi, how are you?"}, call_id="call_as_tools_es"),
            ToolCall("translate_to_french", {"input": "Hi, how are you?"}, call_id="call_as_tools_fr"),
        )
    return f"Checked: {request.input_text}"


@program(
    "as_tools",
    as_tools_script,
    park_after=3,
    expect={"final": "Translations: <<Hola, ¿cómo estás?>> | <<Bonjour, comment ça va ?>>"},
)
async def as_tools() -> dict[str, Any]:
    spanish = Agent(
        name="spanish_agent",
        instructions=tag("as_tools", "spanish", "Translate to Spanish"),
        output_type=Translation,
        model="gpt-4o-mini",
    )
    french = Agent(
        name="french_agent",
        instructions=tag("as_tools", "french", "Translate to French"),
        output_type=Translation,
        model="gpt-4o-mini",
    )
    orchestrator = Agent(
        name="orchestrator_agent",
        instructions=tag("as_tools", "orchestrator", "Use the tools to translate."),
        tools=[
            spanish.as_tool(
                "translate_to_spanish", "Translate to Spanish", custom_output_extractor=text_only
            ),
            french.as_tool("translate_to_french", "Translate to French", custom_output_extractor=text_only),
        ],
        model="gpt-4o-mini",
    )
    synthesizer = Agent(
        name="synthesizer_agent",
        instructions=tag("as_tools", "synthesizer", "Check it."),
        model="gpt-4o-mini",
    )
    result = await Runner.run(orchestrator, "Say 'Hi, how are you?' in Spanish and French.")
    checked = await Runner.run(synthesizer, result.to_input_list())
    return {"final": result.final_output, "checked": checked.final_output}


# -- input guardrail with a tripwire ------------------------------------------------------------------------------


class MathHomeworkOutput(BaseModel):
    reasoning: str
    is_math_homework: bool


def input_guard_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "guardrail":
        homework = "solve" in request.input_text.lower()
        return json.dumps(
            {"reasoning": "looks like homework" if homework else "a question", "is_math_homework": homework}
        )
    return f"Answer to: {request.input_text}"


@input_guardrail(run_in_parallel=False)
async def math_guardrail(
    context: RunContextWrapper[None], agent: Agent, input: str | list[TResponseInputItem]
) -> GuardrailFunctionOutput:
    guard = Agent(
        name="Guardrail check",
        instructions=tag("input_guard", "guardrail", "Is it homework?"),
        output_type=MathHomeworkOutput,
        model="gpt-4o-mini",
    )
    result = await Runner.run(guard, input, context=context.context)
    verdict = result.final_output_as(MathHomeworkOutput)
    return GuardrailFunctionOutput(output_info=verdict, tripwire_triggered=verdict.is_math_homework)


@program("input_guard", input_guard_script, park_after=2)
async def input_guard() -> dict[str, Any]:
    agent = Agent(
        name="Customer support agent",
        model="gpt-4o-mini",
        input_guardrails=[math_guardrail],
        instructions=tag("input_guard", "support", "Help customers."),
    )
    outcomes = []
    for message in ("What's the capital of California?", "Can you help me solve for x: 2x + 5 = 11?"):
        try:
            result = await Runner.run(agent, message)
            outcomes.append({"answer": result.final_output})
        except InputGuardrailTripwireTriggered as tripped:
            info = tripped.guardrail_result.output.output_info
            outcomes.append({"tripped": type(tripped).__name__, "reasoning": info.reasoning})
    return {"outcomes": outcomes}


# -- output guardrail with a tripwire -----------------------------------------------------------------------------


class MessageOutput(BaseModel):
    reasoning: str
    response: str
    user_name: str | None


def output_guard_script(agent: str, request: FakeRequest) -> ReplyLike:
    if "phone" in request.input_text:
        return json.dumps({"reasoning": "asked", "response": "Call 650-123-4567.", "user_name": None})
    return json.dumps({"reasoning": "simple", "response": "Paris.", "user_name": "Ada"})


@output_guardrail
async def sensitive_data_check(
    context: RunContextWrapper[None], agent: Agent, output: MessageOutput
) -> GuardrailFunctionOutput:
    has_phone = "650" in output.response or "650" in output.reasoning
    return GuardrailFunctionOutput(output_info={"phone_number": has_phone}, tripwire_triggered=has_phone)


@program("output_guard", output_guard_script)
async def output_guard() -> dict[str, Any]:
    agent = Agent(
        name="Assistant",
        instructions=tag("output_guard", "main", "You are a helpful assistant."),
        output_type=MessageOutput,
        output_guardrails=[sensitive_data_check],
        model="gpt-4o-mini",
    )
    outcomes: list[Any] = []
    for message in ("What's the capital of France? I'm Ada.", "My phone number is? Say 650-123-4567."):
        try:
            result = await Runner.run(agent, message)
            outcomes.append(result.final_output_as(MessageOutput).model_dump())
        except OutputGuardrailTripwireTriggered as tripped:
            outcomes.append({"tripped": tripped.guardrail_result.output.output_info})
    return {"outcomes": outcomes}


# -- parallelization: three translations with gather, then pick the best ----------------------------------------


def gather_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "picker":
        return "Best: " + request.input_text.splitlines()[-1]
    return f"Hola #{agent[-1]}"


@program("gather", gather_script, parked=2, expect={"translations": ["Hola #1", "Hola #2", "Hola #3"]})
async def gather() -> dict[str, Any]:
    translators = [
        Agent(
            name=f"spanish_agent_{i}",
            instructions=tag("gather", f"t{i}", "Translate to Spanish."),
            model="gpt-4o-mini",
        )
        for i in (1, 2, 3)
    ]
    picker = Agent(
        name="translation_picker", instructions=tag("gather", "picker", "Pick the best."), model="gpt-4o-mini"
    )
    results = await asyncio.gather(*(Runner.run(t, "Hello") for t in translators))
    translations = [str(r.final_output) for r in results]
    best = await Runner.run(picker, "\n".join(translations))
    return {"translations": translations, "best": best.final_output}


# -- completion order decides: as_completed and a FIRST_COMPLETED race ------------------------------------------
# The slowest run is created first, so that replaying in creation order would make other decisions. A run is
# answered only once the program reacted to the one before it (its follow-up request arrived).


def completed_script(agent: str, request: FakeRequest) -> ReplyLike:
    gate = {"medium": "note0", "slow": "note1"}.get(agent)
    if agent in ("slow", "medium", "fast"):
        return after("as_completed", gate, f"{agent} result") if gate else f"{agent} result"
    if agent == "summary":
        return f"Summary in order: {request.input_text}"
    return f"noted {request.input_text}"


@program(
    "as_completed",
    completed_script,
    park_after=4,
    expect={"order": ["fast result", "medium result", "slow result"]},
)
async def as_completed() -> dict[str, Any]:
    researchers = [
        Agent(name=name, instructions=tag("as_completed", name, "Research."), model="gpt-4o-mini")
        for name in ("slow", "medium", "fast")
    ]
    summarizer = Agent(
        name="summary", instructions=tag("as_completed", "summary", "Summarize."), model="gpt-4o-mini"
    )
    order, notes = [], []
    for i, next_done in enumerate(asyncio.as_completed([Runner.run(a, "Go") for a in researchers])):
        found = str((await next_done).final_output)
        order.append(found)
        noter = Agent(
            name="noter", instructions=tag("as_completed", f"note{i}", "Note it."), model="gpt-4o-mini"
        )
        notes.append((await Runner.run(noter, found)).final_output)
    summary = await Runner.run(summarizer, ", ".join(order))
    return {"order": order, "notes": notes, "summary": summary.final_output}


def race_script(agent: str, request: FakeRequest) -> ReplyLike:
    if agent == "slow":
        return after("race", "announce", "slow result")
    if agent == "fast":
        return "fast result"
    return f"{agent}: {request.input_text}"


@program(
    "race",
    race_script,
    park_after=3,
    expect={"winner": "fast result", "rest": ["slow result"]},
)
async def race() -> dict[str, Any]:
    slow = Agent(name="slow", instructions=tag("race", "slow", "Research."), model="gpt-4o-mini")
    fast = Agent(name="fast", instructions=tag("race", "fast", "Research."), model="gpt-4o-mini")
    announcer = Agent(name="announce", instructions=tag("race", "announce", "Announce."), model="gpt-4o-mini")
    summarizer = Agent(name="summary", instructions=tag("race", "summary", "Summarize."), model="gpt-4o-mini")
    tasks = [asyncio.ensure_future(Runner.run(slow, "Go")), asyncio.ensure_future(Runner.run(fast, "Go"))]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    winner = str(done.pop().result().final_output)
    announced = await Runner.run(announcer, winner)
    rest = [str(r.final_output) for r in await asyncio.gather(*pending)]
    summary = await Runner.run(summarizer, f"winner: {winner}; then: {', '.join(rest)}")
    return {
        "winner": winner,
        "announced": announced.final_output,
        "rest": rest,
        "summary": summary.final_output,
    }
