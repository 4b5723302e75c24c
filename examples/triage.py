"""Handoffs: a triage agent routes each question to a specialist, and every model and tool call is journaled.

The Triage Agent hands weather questions to the Weather Agent (tool ``get_weather``) and questions about shops,
cafés and opening hours to the Local Business Agent (tools ``find_businesses`` and ``opening_hours``). The tools
return canned data, so the only thing that leaves the machine is the model traffic.

Against OpenAI (or any OpenAI-compatible server: set OPENAI_BASE_URL)::

    OPENAI_API_KEY=sk-... stead run examples/triage.py:triage "How late is Costco open in Seattle?"
    OPENAI_API_KEY=sk-... stead run examples/triage.py:triage "What's the weather in Tokyo?"

Offline, against stead's fake model server playing ``triage.offline.json`` (its canned replies know the weather
in Paris, Tokyo, New York and Seattle, Costco in Seattle, and coffee, books and bakeries in Paris)::

    stead run --offline examples/triage.py:triage "How late is Costco open in Seattle?"
    stead run --offline examples/triage.py:triage "What's the weather in Tokyo?"
    stead run --offline examples/triage.py:triage "Where can I get coffee in Paris?"

``stead show RUN_ID`` then shows the journal: ``model · Triage Agent · gpt-4o-mini`` (which hands off),
``model · Local Business Agent · gpt-4o-mini``, ``tool · find_businesses``, ``model · ...``,
``tool · opening_hours``, ``model · ...``. A run that crashes after ``find_businesses`` resumes with the next
model call (``stead resume RUN_ID``); the tool does not run again.
"""

from __future__ import annotations

from agents import Agent, Runner, function_tool

import stead

MODEL = "gpt-4o-mini"

#: How many times each tool really ran in this process (a replay of a journaled run does not run them).
tool_calls: dict[str, int] = {"get_weather": 0, "find_businesses": 0, "opening_hours": 0}

_FORECASTS = {
    "paris": "18°C, partly cloudy, light westerly breeze; showers likely after 6 pm",
    "tokyo": "24°C, humid and sunny; UV index high around noon",
    "new york": "12°C, clear and windy; gusts up to 40 km/h",
    "seattle": "11°C, overcast with drizzle most of the day",
}

_BUSINESSES = {
    ("coffee", "paris"): [
        ("Cafe Lumiere", "12 Rue des Martyrs", 4.7),
        ("Le Petit Torrefacteur", "3 Rue Oberkampf", 4.5),
    ],
    ("books", "paris"): [
        ("Librairie du Canal", "38 Quai de Valmy", 4.8),
        ("Shakespeare Corner", "9 Rue de la Bucherie", 4.6),
    ],
    ("bakery", "paris"): [
        ("Boulangerie Arlette", "71 Rue de Charonne", 4.9),
        ("Le Fournil Rose", "5 Rue Lepic", 4.4),
    ],
    ("costco", "seattle"): [
        ("Costco Seattle", "4401 4th Ave S", 4.5),
    ],
}

_HOURS = {
    "Cafe Lumiere": "Mon-Fri 7:30-18:00, Sat-Sun 9:00-17:00",
    "Le Petit Torrefacteur": "Tue-Sun 8:00-16:00, closed Mondays",
    "Librairie du Canal": "Tue-Sat 10:00-19:30, Sun 14:00-19:00",
    "Shakespeare Corner": "Every day 10:00-22:00",
    "Boulangerie Arlette": "Wed-Mon 7:00-20:00, closed Tuesdays",
    "Le Fournil Rose": "Mon-Sat 6:30-19:30",
    "Costco Seattle": "Mon-Fri 10:00-20:30, Sat 9:30-18:00, Sun 10:00-18:00",
}


@function_tool
def get_weather(city: str) -> str:
    """Get today's weather forecast for a city.

    Args:
        city: The city, e.g. "Paris".
    """
    tool_calls["get_weather"] += 1
    forecast = _FORECASTS.get(city.strip().lower(), "21°C and sunny (no detailed forecast available)")
    return f"Forecast for {city}: {forecast}"


@function_tool
def find_businesses(kind: str, city: str) -> str:
    """Find well-rated local businesses of a kind in a city.

    Args:
        kind: What to look for: "coffee", "books", "bakery", or a chain such as "Costco".
        city: The city, e.g. "Paris".
    """
    tool_calls["find_businesses"] += 1
    found = _BUSINESSES.get((kind.strip().lower(), city.strip().lower()), [])
    if not found:
        return f"No {kind} places found in {city}."
    lines = [f"- {name}, {address} (rating {rating})" for name, address, rating in found]
    return f"Places for {kind} in {city}:\n" + "\n".join(lines)


@function_tool
def opening_hours(name: str) -> str:
    """Get the opening hours of a business found with find_businesses.

    Args:
        name: The business's name, exactly as find_businesses returned it.
    """
    tool_calls["opening_hours"] += 1
    hours = _HOURS.get(name.strip())
    return f"Opening hours of {name}: {hours}" if hours else f"Opening hours of {name}: unknown"


weather_agent = Agent(
    name="Weather Agent",
    handoff_description="Answers questions about the weather and forecasts.",
    instructions=(
        "You are a weather assistant. Use the get_weather tool for the city the person asks about, "
        "then answer in one or two friendly sentences."
    ),
    tools=[get_weather],
    model=MODEL,
)

business_agent = Agent(
    name="Local Business Agent",
    handoff_description="Finds local shops, cafés, bookshops, bakeries and their opening hours.",
    instructions=(
        "You help people find local businesses. Use find_businesses to find places, pick the best rated one, "
        "look up its opening_hours and recommend it in two or three sentences."
    ),
    tools=[find_businesses, opening_hours],
    model=MODEL,
)

triage_agent = Agent(
    name="Triage Agent",
    instructions=(
        "You route each question to the right specialist. Hand off weather questions to the Weather Agent "
        "and questions about local shops, cafés or restaurants to the Local Business Agent. Do not answer "
        "yourself."
    ),
    handoffs=[weather_agent, business_agent],
    model=MODEL,
)


@stead.workflow
async def triage(question: str) -> str:
    """Route ``question`` to the right specialist agent and return its answer."""
    result = await Runner.run(triage_agent, question)
    return str(result.final_output)
