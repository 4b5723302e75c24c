"""The dashboard in a real headless Chromium (Debian's ``chromium``), driven with Playwright, on real runs.

Screenshots of each page go to ``$STEAD_ARTIFACTS/ui`` (else pytest's temporary directory).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

import stead
from stead.testing import fake_models, offline_models
from stead.ui import Server

from ..temporal_server import fresh_namespace, temporal_server  # noqa: F401 - a fixture
from . import ui_app
from .conftest import EXAMPLES, Dashboard, script_of

CHROMIUM = os.environ.get("STEAD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) or set STEAD_CHROMIUM",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip(
    "playwright.async_api",
    reason="the browser tests need Playwright: pip install playwright (no browser download)",
)
expect = playwright_api.expect

approvals = importlib.import_module("approvals")
triage = importlib.import_module("triage")

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("STEAD_ARTIFACTS")
    folder = Path(root) / "ui" if root else tmp_path_factory.getbasetemp() / "ui-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        context = await browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        context.on("pageerror", lambda error: errors.append(str(error)))
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await browser.close()
        assert errors == [], f"the page raised: {errors}"


async def content_box(page: Any) -> dict[str, float]:
    """The top of the page down to the end of its content (no empty viewport below it)."""
    box = await page.locator("main").bounding_box()
    return {"x": 0, "y": 0, "width": 1360, "height": box["y"] + box["height"]}


async def test_run_list_and_a_triage_run(dashboard: Dashboard, page: Any, shots: Path) -> None:
    engine = dashboard.engine
    questions = [
        "How late is Costco open in Seattle?",
        "What's the weather in Tokyo?",
        "Where can I get coffee in Paris?",
    ]
    with offline_models(script_of(str(EXAMPLES / "triage.py"))):
        handles = [await engine.start(triage.triage, q) for q in questions]
        async with engine.worker([triage.triage]):
            for handle in handles:
                await handle.result(timeout=60)
    failed = await engine.start(ui_app.flaky, "bug-shown")
    waiting = await engine.start(ui_app.chatty, ["hello"])
    async with engine.worker([ui_app.flaky, ui_app.chatty]):
        await engine.wait(failed.run_id, timeout=30)
        await dashboard.until(waiting.run_id, lambda r: r["waiting_for"] == ["go"])
    costco = handles[0].run_id

    await page.goto(dashboard.server.url + "/")
    rows = page.locator("tr.row")
    await expect(rows).to_have_count(5)
    await expect(page.locator(f'tr[data-run="{costco}"] .badge')).to_have_text("completed")
    await expect(page.locator(f'tr[data-run="{failed.run_id}"] .badge')).to_have_text("failed")
    await expect(page.locator(f'tr[data-run="{waiting.run_id}"] .badge')).to_have_text("waiting")
    await expect(page.locator(f'tr[data-run="{waiting.run_id}"] .wait-for')).to_have_text("message go")
    await expect(page.locator(f'tr[data-run="{costco}"] td').nth(6)).to_have_text("250")
    await page.screenshot(path=str(shots / "ui-runs.png"), clip=await content_box(page))

    await page.click('button[data-status="waiting"]')
    await expect(rows).to_have_count(1)
    await page.click('button[data-status="all"]')
    await page.fill('input[type="search"]', "tokyo")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-run", handles[1].run_id)
    await page.fill('input[type="search"]', "")
    await expect(rows).to_have_count(5)

    await page.click(f'a[href="/runs/{costco}"]')
    await expect(page.locator("#run-header .badge").first).to_have_text("completed")
    await expect(page.locator("#timeline .bar")).to_have_count(6)
    await expect(page.locator("#timeline .lane-label")).to_have_text(
        ["Triage Agent0:0", "Local Business Agent0:0"]
    )
    conversation = page.locator("#conversation")
    await expect(conversation.locator('[data-type="handoff"]')).to_have_text(
        "Triage Agent handed off to Local Business Agent"
    )
    find = conversation.locator('[data-tool="find_businesses"]')
    await expect(find).to_contain_text('find_businesses(kind="Costco", city="Seattle")')
    await expect(find).to_contain_text("Costco Seattle, 4401 4th Ave S")
    await expect(conversation.locator(".msg.final")).to_contain_text("open until 8:30 pm")

    await conversation.locator('[data-tool="opening_hours"]').click()
    inspector = page.locator("#inspector")
    await expect(inspector.locator(".t")).to_have_text("tool · opening_hours")
    await expect(inspector).to_contain_text("Mon-Fri 10:00-20:30")
    await expect(page.locator("#timeline .bar.selected")).to_have_count(1)
    await page.screenshot(path=str(shots / "ui-run.png"), full_page=True)

    await page.goto(f"{dashboard.server.url}/runs/{failed.run_id}")
    await expect(page.locator("#run-header .error-box")).to_contain_text(
        "RuntimeError: bug bug-shown is not fixed yet"
    )
    await expect(page.locator("#timeline .bar .retries")).to_have_text("×2")
    await expect(page.locator("#resume")).to_be_visible()
    await expect(page.locator("#run-header")).to_contain_text(f"stead resume {failed.run_id}")
    await page.screenshot(path=str(shots / "ui-run-failed.png"), full_page=True)


async def test_approve_a_waiting_refund(dashboard: Dashboard, page: Any, shots: Path) -> None:
    engine = dashboard.engine
    approvals.refunds_made.clear()
    with offline_models(script_of(str(EXAMPLES / "approvals.py"))):
        handle = await engine.start(approvals.refund_desk, "Order 1042 arrived broken, please refund it")
        async with engine.worker([approvals.refund_desk]):
            await dashboard.until(handle.run_id, lambda r: r["waiting_for"] != [])

            await page.goto(dashboard.server.url + "/")
            await expect(page.locator(f'tr[data-run="{handle.run_id}"] .wait-for')).to_have_text(
                "approval of issue_refund"
            )
            await page.goto(dashboard.server.url + "/approvals")
            card = page.locator('#inbox .approval-card[data-call="call_refund_1"]')
            await expect(card).to_contain_text("wants to call issue_refund")
            await expect(card).to_contain_text('"amount": 189')
            await expect(card).to_contain_text(f"stead approve {handle.run_id} call_refund_1")
            await expect(page.locator("#inbox-count")).to_have_text("1")
            await page.screenshot(path=str(shots / "ui-approvals.png"))

            await page.click(f'#inbox a[href="/runs/{handle.run_id}"]')
            await expect(page.locator("#run-header .badge").first).to_have_text("waiting")
            await expect(page.locator('#conversation [data-type="approval"]')).to_have_attribute(
                "data-decision", "pending"
            )
            await page.screenshot(path=str(shots / "ui-run-waiting.png"), full_page=True)
            await page.locator('#run-header .approval-card [data-action="approve"]').click()
            await expect(page.locator("#run-header .badge").first).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#run-header .result-box")).to_contain_text("Done: I refunded 189.00 EUR")
    await expect(page.locator('#conversation [data-type="approval"]')).to_have_attribute(
        "data-decision", "approved"
    )
    assert approvals.refunds_made == ["1042"]
    await page.screenshot(path=str(shots / "ui-run-approved.png"), full_page=True)


async def test_live_tokens_and_a_retracted_attempt(dashboard: Dashboard, page: Any, shots: Path) -> None:
    engine = dashboard.engine
    ui_app.gates.clear()
    ui_app.attempts_told.clear()
    handle = await engine.start(ui_app.storyteller, "dragons")
    async with engine.worker([ui_app.storyteller]):
        await page.goto(f"{dashboard.server.url}/runs/{handle.run_id}")
        streams = page.locator("#streams .stream")
        await expect(streams.first).to_contain_text("Once upon a time,")
        await expect(streams.first).to_have_attribute("data-state", "live")

        ui_app.gates.setdefault(1, asyncio.Event()).set()
        await expect(streams.first).to_have_attribute("data-state", "retracted")
        await expect(streams.first).to_contain_text("its text is retracted")
        await expect(streams.nth(1)).to_contain_text("A short story about dragons.")
        await expect(streams.nth(1)).to_have_attribute("data-state", "live")
        await page.screenshot(path=str(shots / "ui-live.png"), full_page=True)

        ui_app.gates.setdefault(2, asyncio.Event()).set()
        assert await handle.result(timeout=30) == "A short story about dragons."
    await expect(page.locator("#run-header .badge").first).to_have_text("completed")


@pytest.fixture
async def temporal_dashboard(temporal_server: str) -> AsyncIterator[Dashboard]:  # noqa: F811 - the fixture
    url = f"temporal://{temporal_server}?namespace={fresh_namespace()}&task_queue=ui-{uuid.uuid4().hex[:8]}"
    async with (
        stead.connect(url) as engine,
        Server(engine, port=0) as server,
        httpx.AsyncClient(base_url=server.url, timeout=120) as client,
    ):
        yield Dashboard(engine, server, client)


@pytest.mark.timeout(300)  # the first Temporal test of a session starts the dev server
async def test_the_same_pages_on_temporal(temporal_dashboard: Dashboard, page: Any, shots: Path) -> None:
    dashboard = temporal_dashboard
    engine = dashboard.engine
    approvals.refunds_made.clear()
    with offline_models(script_of(str(EXAMPLES / "approvals.py"))):
        refund = await engine.start(approvals.refund_desk, "Order 1042 arrived broken, please refund it")
        async with engine.worker([approvals.refund_desk]):
            # A Temporal worker takes seconds to start on a busy machine.
            await dashboard.until(refund.run_id, lambda r: r["waiting_for"] != [], timeout=120)
            await page.goto(f"{dashboard.server.url}/runs/{refund.run_id}")
            await expect(page.locator("#run-header .badge").first).to_have_text("waiting")
            await expect(page.locator("#run-header .approval-card")).to_contain_text(
                "wants to call issue_refund"
            )
            await page.locator('#run-header .approval-card [data-action="approve"]').click()
            info = await engine.wait(refund.run_id, timeout=90)
            assert info.status is stead.RunStatus.COMPLETED, info.error
            await expect(page.locator("#run-header .badge").first).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#run-header .result-box")).to_contain_text("Done: I refunded 189.00 EUR")
    await expect(page.locator("#timeline .bar.k-wait")).to_have_count(1)
    await expect(page.locator('#conversation [data-tool="lookup_order"]')).to_contain_text("espresso machine")
    await expect(page.locator("#engine")).to_contain_text("temporal engine")
    await page.screenshot(path=str(shots / "ui-temporal-run.png"), full_page=True)

    await page.goto(dashboard.server.url + "/")
    await expect(page.locator(f'tr[data-run="{refund.run_id}"] .badge')).to_have_text("completed")
    await page.screenshot(path=str(shots / "ui-temporal-runs.png"), clip=await content_box(page))


async def test_fork_a_finished_run_from_a_step(dashboard: Dashboard, page: Any, shots: Path) -> None:
    engine = dashboard.engine
    with offline_models(script_of(str(EXAMPLES / "triage.py"))) as server:
        handle = await engine.start(triage.triage, "How late is Costco open in Seattle?")
        async with engine.worker([triage.triage]):
            await handle.result(timeout=60)
            assert len(server.requests) == 4
            await page.goto(f"{dashboard.server.url}/runs/{handle.run_id}")
            inspector = page.locator("#inspector")

            # A model step: the request it sent and the response recorded.
            # Bars of quick steps overlap on the axis: select the step the way a click on its bar does.
            await page.locator('#timeline .bar[data-position="0:0/model:3"]').dispatch_event("click")
            request = inspector.locator('[data-part="model-request"]')
            await expect(request.locator(".instructions")).to_contain_text(
                "You help people find local businesses"
            )
            await expect(request.locator(".tools")).to_have_text("find_businesses, opening_hours")
            await expect(request.locator(".item")).to_have_count(5)
            await expect(request.locator(".item").nth(4)).to_contain_text("Places for Costco in Seattle")
            await expect(inspector.locator(".response")).to_contain_text('"name": "opening_hours"')
            await expect(inspector.locator("#fork-cli")).to_have_text(
                f"stead fork {handle.run_id} --at 0:0/model:3"
            )

            # A tool step: its input and output; fork from it with an edited result.
            await page.locator('#conversation [data-tool="opening_hours"]').click()
            await expect(inspector.locator(".tool-input")).to_contain_text('"name": "Costco Seattle"')
            await expect(inspector.locator(".tool-output")).to_contain_text("Mon-Fri 10:00-20:30")
            await inspector.locator("#fork-edit").check()
            edited = "Opening hours of Costco Seattle: every day 0:00-24:00"
            await inspector.locator("#fork-result").fill(f'"{edited}"')
            await expect(inspector.locator("#fork-cli")).to_have_text(
                f"stead fork {handle.run_id} --at 0:0/call_fake_3 --set-result '\"{edited}\"'"
            )
            await page.screenshot(path=str(shots / "ui-fork.png"), full_page=True)
            await inspector.locator("#fork").click()

            # The page goes to the new run, which a worker completes.
            await expect(page).not_to_have_url(f"{dashboard.server.url}/runs/{handle.run_id}")
            await expect(page).to_have_url(re.compile(r"/runs/triage-[0-9a-f]{12}$"))
            forked = page.url.rsplit("/", 1)[-1]
            await expect(page.locator("#run-header .badge").first).to_have_text("completed", timeout=30_000)
            await expect(page.locator('#conversation [data-tool="opening_hours"]')).to_contain_text(edited)
            # The steps before the fork point were taken over: only the last model call was made again.
            assert len(server.requests) == 5
    assert (await engine.get(forked)).status is stead.RunStatus.COMPLETED
    await page.screenshot(path=str(shots / "ui-forked.png"), full_page=True)


async def test_budget_and_the_model_request_without_secrets(
    dashboard: Dashboard, page: Any, shots: Path
) -> None:
    engine = dashboard.engine
    page_key = "sk-page-test-" + "0123456789abcdef" * 2
    with fake_models(ui_app.frugal_script):
        os.environ["OPENAI_API_KEY"] = page_key  # the worker's client key (fake_models restores it on exit)
        handle = await engine.start(ui_app.frugal, "Paris?")
        async with engine.worker([ui_app.frugal]):
            await handle.result(timeout=60)
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url) if "/api/" in r.url else None)
    await page.goto(f"{dashboard.server.url}/runs/{handle.run_id}")
    tokens = page.locator('#run-header .fact.budget[data-limit="tokens"]')
    await expect(tokens.locator(".v")).to_have_text("893")
    await expect(tokens.locator(".sub")).to_have_text("107 used of 1,000")
    cost = page.locator('#run-header .fact.budget[data-limit="cost_usd"]')
    await expect(cost.locator(".v")).to_have_text("$0.009981")
    await expect(cost.locator(".sub")).to_have_text("$0.000019 used of $0.0100")

    await page.locator('#timeline .bar[data-position="0:0/model:1"]').click()
    request = page.locator('#inspector [data-part="model-request"]')
    await expect(request.locator(".instructions")).to_have_text("Answer in two words.")
    await expect(request.locator(".settings")).to_contain_text('"temperature": 0.2')
    await expect(request.locator(".settings")).to_contain_text('"X-Api-Key": "[redacted]"')
    await expect(request.locator(".item")).to_have_count(1)
    await expect(request.locator(".item")).to_contain_text('"content": "Paris?"')
    await expect(page.locator("#inspector .response")).to_contain_text("Short answer.")
    await page.screenshot(path=str(shots / "ui-model-request.png"), full_page=True)

    # No key in the page, nor in anything the page loaded from the API.
    html = await page.content()
    assert ui_app.HEADER_KEY not in html and page_key not in html
    assert any("/steps/" in url for url in loaded), loaded
    for url in loaded:
        if "/events" in url:
            continue
        body = (await dashboard.client.get(url)).text
        assert ui_app.HEADER_KEY not in body and page_key not in body, url
