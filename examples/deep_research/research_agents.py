"""The agents of the deep research workflow, and the structured outputs they return.

Named ``research_agents`` rather than ``agents``: ``stead run examples/deep_research/workflow.py:...`` puts this
directory first on ``sys.path``, where a module called ``agents`` would hide the OpenAI Agents SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents import Agent
from pydantic import BaseModel, Field

if TYPE_CHECKING or __package__:
    from .research_tools import web_search
else:  # imported by workflow.py run as a file (see there)
    from research_tools import web_search

MODEL = "gpt-4o-mini"


class TriageDecision(BaseModel):
    needs_clarification: bool = Field(
        description="Whether asking the person a few questions first would help."
    )
    reason: str = Field(description="Why, in one sentence.")


class ClarifyingQuestions(BaseModel):
    questions: list[str] = Field(description="Two or three short questions for the person.")


class WebSearchItem(BaseModel):
    reason: str = Field(description="Why this search helps answer the request.")
    query: str = Field(description="The search term.")


class WebSearchPlan(BaseModel):
    searches: list[WebSearchItem] = Field(description="Between 2 and 5 searches.")


class ReportData(BaseModel):
    short_summary: str = Field(description="Two or three sentences.")
    markdown_report: str = Field(description="The full report, in Markdown.")
    follow_up_questions: list[str] = Field(description="Topics worth researching next.")


triage_agent = Agent(
    name="Triage Agent",
    instructions=(
        "You triage deep research requests. Decide whether the request is specific enough to research as it "
        "is, or whether a few clarifying questions to the person (their situation, priorities, constraints) "
        "would make the research much more useful."
    ),
    output_type=TriageDecision,
    model=MODEL,
)

clarifying_agent = Agent(
    name="Clarifying Agent",
    instructions=(
        "You ask clarifying questions before a deep research task. Write two or three short, concrete "
        "questions whose answers would change what to research. Do not answer the request."
    ),
    output_type=ClarifyingQuestions,
    model=MODEL,
)

instruction_agent = Agent(
    name="Instruction Agent",
    instructions=(
        "You turn a research request, and the person's answers to clarifying questions, into precise research "
        "instructions for a researcher: the questions to answer, the angle, what to compare, and the format "
        "of the report. Reply with the instructions only."
    ),
    model=MODEL,
)

planner_agent = Agent(
    name="Planner Agent",
    instructions=(
        "You plan web searches for a research task. Given research instructions, return between 2 and 5 "
        "searches that together cover them, each with the reason for it."
    ),
    output_type=WebSearchPlan,
    model=MODEL,
)

search_agent = Agent(
    name="Search Agent",
    instructions=(
        "You are a research assistant. Search the web for the given term with the web_search tool and "
        "summarise the results in 2-3 dense paragraphs of under 300 words, keeping numbers and sources. "
        "Reply with the summary only."
    ),
    tools=[web_search],
    model=MODEL,
)

writer_agent = Agent(
    name="Writer Agent",
    instructions=(
        "You are a senior researcher writing a cohesive report. You get the original request, the research "
        "instructions and summaries of web searches. Write a detailed Markdown report with a short summary "
        "and follow-up questions."
    ),
    output_type=ReportData,
    model=MODEL,
)
