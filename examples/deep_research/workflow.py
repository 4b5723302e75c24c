"""Deep research, durably: clarify with the person, plan, search in parallel, write a report.

1. The Triage Agent decides whether the request needs clarifying questions (structured output).
2. If so, the Clarifying Agent writes them; the run publishes them (state ``questions``) and waits, durably, for
   the person's answers, a message called ``answers``. The wait survives restarts: stop the worker, come back
   tomorrow, send the answers, and the run continues where it stopped.
3. The Instruction Agent turns request and answers into research instructions.
4. The Planner Agent returns a search plan (structured output).
5. One Search Agent run per planned search, all in parallel; each calls the ``web_search`` tool (canned results
   here, see ``research_tools.py``).
6. The Writer Agent writes the report (structured output); the workflow returns its Markdown.

Every model call and every ``web_search`` is a journaled step: a run that crashes during the searches resumes
with the searches that had not finished, and never pays for a finished one twice. Progress is published under
``stage``.

Against OpenAI (or any OpenAI-compatible server: set OPENAI_BASE_URL)::

    OPENAI_API_KEY=sk-... stead run examples/deep_research/workflow.py:deep_research "History of the printing press"

The run shows its progress and waits for the answers to its questions. In another terminal::

    stead show RUN_ID        # the questions, under state "questions"
    stead send RUN_ID answers '["Gutenberg and Europe", "A general reader", "Both, with the social effects"]'

To skip the wait, give the answers up front::

    stead run examples/deep_research/workflow.py:deep_research "History of the printing press" \\
        -k answers='["Gutenberg and Europe", "A general reader", "Both, with the social effects"]'

Offline, against stead's fake model server playing ``offline.json`` (canned replies about the printing press,
whatever the request)::

    stead run --offline examples/deep_research/workflow.py:deep_research "History of the printing press"
    stead send RUN_ID answers '["Gutenberg and Europe", "A general reader", "Both, with the social effects"]'

Interrupt a run (Ctrl-C) and continue it with ``stead resume RUN_ID``: the journal replays, nothing is asked twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agents import Runner
from agents.exceptions import AgentsException

import stead

# Imported as a package module (`import deep_research`, `stead run examples.deep_research:deep_research`), or as a
# file on its own by `stead run examples/deep_research/workflow.py:deep_research`, which puts this directory first
# on sys.path. (Type checkers read the package form.)
if TYPE_CHECKING or __package__:
    from .research_agents import (
        ClarifyingQuestions,
        ReportData,
        TriageDecision,
        WebSearchItem,
        WebSearchPlan,
        clarifying_agent,
        instruction_agent,
        planner_agent,
        search_agent,
        triage_agent,
        writer_agent,
    )
else:
    from research_agents import (
        ClarifyingQuestions,
        ReportData,
        TriageDecision,
        WebSearchItem,
        WebSearchPlan,
        clarifying_agent,
        instruction_agent,
        planner_agent,
        search_agent,
        triage_agent,
        writer_agent,
    )

#: How long the run waits for the person's answers before it researches without them.
ANSWER_TIMEOUT = 7 * 24 * 3600.0


@stead.workflow
async def deep_research(query: str, answers: list[str] | None = None) -> str:
    """Research ``query`` and return a Markdown report.

    If the request needs clarifying, the run publishes its ``questions`` and waits for a message ``answers``
    (a list of strings), unless ``answers`` were given up front.
    """
    stead.publish("stage", "triage")
    decision = (await Runner.run(triage_agent, query)).final_output_as(
        TriageDecision, raise_if_incorrect_type=True
    )

    questions: list[str] = []
    if decision.needs_clarification:
        stead.publish("stage", "clarifying")
        clarifying = await Runner.run(clarifying_agent, query)
        questions = clarifying.final_output_as(ClarifyingQuestions, raise_if_incorrect_type=True).questions
        stead.publish("questions", questions)
        if answers is None:
            stead.publish("stage", "waiting for answers")
            try:
                answers = _as_answers(await stead.wait_for("answers", timeout=ANSWER_TIMEOUT))
            except stead.WaitTimeout:
                answers = []
        stead.publish("answers", answers)

    stead.publish("stage", "writing research instructions")
    brief = await Runner.run(instruction_agent, _request_with_answers(query, questions, answers or []))
    instructions = str(brief.final_output)

    stead.publish("stage", "planning searches")
    planned = await Runner.run(planner_agent, instructions)
    plan = planned.final_output_as(WebSearchPlan, raise_if_incorrect_type=True)
    stead.publish("searches", [item.query for item in plan.searches])

    done = 0

    async def search(item: WebSearchItem) -> str | None:
        nonlocal done
        text = f"Search term: {item.query}\nReason for searching: {item.reason}"
        try:
            summary: str | None = str((await Runner.run(search_agent, text)).final_output)
        except (stead.StepFailed, AgentsException):
            # A search that failed for good (after its retries) is left out of the report. Catch no more than
            # that: a broad `except Exception` would also swallow stead's NonDeterminismError.
            summary = None
        done += 1
        stead.publish("stage", f"searching ({done}/{len(plan.searches)} done)")
        return summary

    stead.publish("stage", f"searching (0/{len(plan.searches)} done)")
    # One task per search: stead numbers the tasks in creation order, so each result replays into its place.
    summaries = await asyncio.gather(*(search(item) for item in plan.searches))

    stead.publish("stage", "writing report")
    written = await Runner.run(writer_agent, _writer_input(query, instructions, plan.searches, summaries))
    report = written.final_output_as(ReportData, raise_if_incorrect_type=True)
    stead.publish("summary", report.short_summary)
    stead.publish("follow_up_questions", report.follow_up_questions)
    stead.publish("stage", "done")
    return report.markdown_report


def _as_answers(payload: Any) -> list[str]:
    """The answers as sent: a list of strings, or one string."""
    if payload is None:
        return []
    if isinstance(payload, list):
        return [str(answer) for answer in payload]
    return [str(payload)]


def _request_with_answers(query: str, questions: list[str], answers: list[str]) -> str:
    lines = [f"Research request: {query}"]
    if questions:
        lines += ["", "Clarifying questions and the person's answers:"]
        for i, question in enumerate(questions):
            answer = answers[i] if i < len(answers) else "(no answer)"
            lines += [f"Q: {question}", f"A: {answer}"]
    extra = answers[len(questions) :]
    if extra:
        lines += ["", "More context from the person:", *(f"- {note}" for note in extra)]
    return "\n".join(lines)


def _writer_input(
    query: str, instructions: str, searches: list[WebSearchItem], summaries: list[str | None]
) -> str:
    lines = [
        f"Original request: {query}",
        "",
        "Research instructions:",
        instructions,
        "",
        "Search summaries:",
    ]
    for item, summary in zip(searches, summaries, strict=True):
        lines += ["", f"## {item.query}", summary if summary is not None else "(this search failed)"]
    return "\n".join(lines)
