"""The HTTP API through a real HTTP client against the dashboard served by uvicorn, on real runs of the examples."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from click.testing import CliRunner

import stead
from stead._loader import load_target
from stead.cli import cli
from stead.testing import fake_models, offline_models
from stead.ui import Server

from ..procs import ROOT, track
from ..procs import env as procs_env
from . import ui_app
from .conftest import EXAMPLES, Dashboard, script_of

# The examples, from examples/ (on sys.path through conftest).
approvals = importlib.import_module("approvals")
triage = importlib.import_module("triage")

QUESTION = "How late is Costco open in Seattle?"
REFUND = "Order 1042 arrived broken, please refund it"


async def finished(dashboard: Dashboard, run_id: str) -> dict[str, Any]:
    await dashboard.engine.wait(run_id, timeout=60)
    response = await dashboard.client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    run: dict[str, Any] = response.json()
    return run


async def test_a_triage_run_through_the_api(dashboard: Dashboard) -> None:
    with offline_models(script_of(str(EXAMPLES / "triage.py"))):
        handle = await dashboard.engine.start(triage.triage, QUESTION)
        async with dashboard.engine.worker([triage.triage]):
            await handle.result(timeout=60)

    listed = (await dashboard.client.get("/api/runs")).json()
    [run] = listed["runs"]
    assert listed["next_cursor"] is None
    assert run["run_id"] == handle.run_id and run["display_status"] == "completed"
    assert run["args"] == {"args": [QUESTION], "kwargs": {}}
    assert run["usage"]["calls"] == 4 and run["usage"]["total_tokens"] == 250 and run["usage"]["cost_usd"] > 0

    detail = (await dashboard.client.get(f"/api/runs/{handle.run_id}?include=steps,conversation")).json()
    assert detail["result"].startswith("The Costco in Seattle")
    assert [a["agent"] for a in detail["usage"]["agents"]] == ["Triage Agent", "Local Business Agent"]
    assert [(s["kind"], s["agent"]) for s in detail["step_list"]] == [
        ("model", "Triage Agent"),
        ("model", "Local Business Agent"),
        ("tool", "Local Business Agent"),
        ("model", "Local Business Agent"),
        ("tool", "Local Business Agent"),
        ("model", "Local Business Agent"),
    ]
    assert [lane["label"] for lane in detail["lanes"]] == ["Triage Agent → Local Business Agent"]

    kinds = [item["type"] for item in detail["conversation"]]
    assert kinds == ["input", "handoff", "tool_call", "tool_call", "message", "result"]
    handoff, find, hours = detail["conversation"][1:4]
    assert handoff["agent"] == "Triage Agent" and handoff["to"] == "Local Business Agent"
    assert find["tool"] == "find_businesses" and find["arguments"] == {"kind": "Costco", "city": "Seattle"}
    assert find["output"].startswith("Places for Costco in Seattle") and find["status"] == "done"
    assert hours["tool"] == "opening_hours" and "Mon-Fri 10:00-20:30" in hours["output"]

    steps = (await dashboard.client.get(f"/api/runs/{handle.run_id}/steps")).json()
    assert steps["steps"] == detail["step_list"]
    conversation = (await dashboard.client.get(f"/api/runs/{handle.run_id}/conversation")).json()
    assert conversation["items"] == detail["conversation"]


async def test_start_a_run_from_its_source(dashboard: Dashboard) -> None:
    source = f"{EXAMPLES / 'triage.py'}:triage"
    response = await dashboard.client.post(
        "/api/runs", json={"source": source, "args": [QUESTION], "run_id": "q-1"}
    )
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["run_id"] == "q-1" and started["status"] == "pending"
    assert started["source"] == str(EXAMPLES / "triage.py")
    assert started["cli"] == f"stead run {source} 'How late is Costco open in Seattle?'"

    workflow, _ = load_target(source)
    with offline_models(script_of(source)):
        async with dashboard.engine.worker([workflow]):
            run = await finished(dashboard, "q-1")
    assert run["status"] == "completed" and "8:30 pm" in run["result"]

    for body, status, message in [
        ({}, 400, "'source' must be a non-empty string"),
        ({"source": "nowhere.py:wf"}, 400, "no file nowhere.py"),
        ({"source": source, "args": "x"}, 400, "'args' must be a JSON array"),
        ({"source": f"{EXAMPLES / 'triage.py'}:nope"}, 400, "has no workflow 'nope'"),
        ({"source": source, "args": [1, 2]}, 400, ""),
    ]:
        response = await dashboard.client.post("/api/runs", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"]
    response = await dashboard.client.post(
        "/api/runs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]


async def test_fork_a_finished_run_from_a_step(dashboard: Dashboard) -> None:
    client = dashboard.client
    with offline_models(script_of(str(EXAMPLES / "triage.py"))) as server:
        handle = await dashboard.engine.start(triage.triage, QUESTION)
        async with dashboard.engine.worker([triage.triage]):
            original = await handle.result(timeout=60)
            assert len(server.requests) == 4
            steps = (await client.get(f"/api/runs/{handle.run_id}/steps")).json()["steps"]
            positions = [s["position"] for s in steps]
            model_3 = positions[3]  # the third model call, after find_businesses ran
            assert steps[3]["kind"] == "model"

            response = await client.post(f"/api/runs/{handle.run_id}/fork", json={"at": model_3})
            assert response.status_code == 201, response.text
            forked = response.json()
            assert forked["status"] == "pending" and forked["run_id"] != handle.run_id
            assert forked["forked_from"] == {"run_id": handle.run_id, "at": model_3}
            assert forked["cli"] == f"stead fork {handle.run_id} --at 0:0/model:3"
            run = await finished(dashboard, forked["run_id"])
            assert run["status"] == "completed" and run["result"] == original
            # Only the model calls from the fork point on were made again (the 3rd and the 4th).
            assert len(server.requests) == 6

            # With an edited result of the opening_hours tool: it does not run, the last model call does.
            hours = positions[4]
            edited = "Opening hours of Costco Seattle: every day 0:00-24:00"
            response = await client.post(
                f"/api/runs/{handle.run_id}/fork",
                json={"at": hours, "set_result": edited, "run_id": "fork-2"},
            )
            assert response.status_code == 201, response.text
            assert response.json()["cli"] == (
                f"stead fork {handle.run_id} --at 0:0/call_fake_3 --set-result "
                "'\"Opening hours of Costco Seattle: every day 0:00-24:00\"' --run-id fork-2"
            )
            await finished(dashboard, "fork-2")
            assert len(server.requests) == 7
    detail = (await client.get("/api/runs/fork-2?include=conversation")).json()
    [tool] = [i for i in detail["conversation"] if i.get("tool") == "opening_hours"]
    assert tool["output"] == edited

    for body, status, message in [
        ({}, 400, "'at' must be a step's position"),
        ({"at": "9:9"}, 400, "no step '9:9' in the run"),
        ({"at": hours, "set_result": None}, 400, "leave 'set_result' out"),
        ({"at": hours, "run_id": "fork-2"}, 400, "exists already"),
    ]:
        response = await client.post(f"/api/runs/{handle.run_id}/fork", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"]
    response = await client.post("/api/runs/nobody/fork", json={"at": "1"})
    assert response.status_code == 404


async def test_budget_and_the_model_request_of_a_step(dashboard: Dashboard, tmp_path: Path) -> None:
    with fake_models(ui_app.frugal_script):
        handle = await dashboard.engine.start(ui_app.frugal, "Paris?")
        async with dashboard.engine.worker([ui_app.frugal]):
            await handle.result(timeout=60)
    run = (await dashboard.client.get(f"/api/runs/{handle.run_id}?include=steps")).json()
    assert run["budget"]["tokens"] == {"limit": 1000, "used": 107, "left": 893}
    cost = run["budget"]["cost_usd"]
    assert (
        cost["limit"] == 0.01
        and 0 < cost["used"] < 0.001
        and cost["left"] == pytest.approx(0.01 - cost["used"])
    )
    listed = (await dashboard.client.get("/api/runs")).json()["runs"][0]
    assert listed["budget"]["tokens"]["left"] == 893

    [model] = [s for s in run["step_list"] if s["kind"] == "model"]
    response = await dashboard.client.get(f"/api/runs/{handle.run_id}/steps/{model['position']}")
    assert response.status_code == 200, response.text
    step = response.json()
    request = step["request"]
    assert request["instructions"] == "Answer in two words."
    assert request["input"] == [{"content": "Paris?", "role": "user"}]
    assert request["settings"]["temperature"] == 0.2
    # The journal keeps that the header was set, never its value (nor do pages show it).
    assert request["settings"]["extra_headers"] == {"X-Api-Key": "[redacted]"}
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("stead.db*"))  # noqa: ASYNC240 (a test's check)
    assert b"Short answer." in journal and ui_app.HEADER_KEY.encode() not in journal
    assert step["result"]["output"][0]["content"][0]["text"] == "Short answer."
    assert step["cli"]["fork"] == f"stead fork {handle.run_id} --at 0:0/model:1"
    for path in (
        f"/api/runs/{handle.run_id}/steps/{model['position']}",
        f"/api/runs/{handle.run_id}?include=steps",
    ):
        assert ui_app.HEADER_KEY not in (await dashboard.client.get(path)).text
    missing = await dashboard.client.get(f"/api/runs/{handle.run_id}/steps/0:9")
    assert missing.status_code == 404 and "no step at '0:9'" in missing.json()["error"]["message"]

    # `stead show` prints the same budget from the same view.
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["show", handle.run_id, "-e", dashboard.engine.url]
    )
    assert shown.exit_code == 0, shown.output
    assert (
        "budget    1,000 tokens: 107 used, 893 left · $0.0100: $0.000019 used, $0.009981 left"
    ) in shown.output


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_approve_or_reject_a_refund(dashboard: Dashboard, decision: str) -> None:
    approvals.refunds_made.clear()
    with offline_models(script_of(str(EXAMPLES / "approvals.py"))):
        handle = await dashboard.engine.start(approvals.refund_desk, REFUND)
        async with dashboard.engine.worker([approvals.refund_desk]):
            run = await dashboard.until(handle.run_id, lambda r: r["waiting_for"] != [])
            assert run["display_status"] == "waiting" and run["status"] == "running"
            assert run["waiting_for"] == ["approval:call_refund_1"]
            [pending] = run["approvals"]
            assert pending["tool"] == "issue_refund" and json.loads(pending["arguments"]) == {
                "order_id": "1042",
                "amount": 189.0,
            }
            inbox = (await dashboard.client.get("/api/approvals")).json()["approvals"]
            assert [(a["run_id"], a["call_id"]) for a in inbox] == [(handle.run_id, "call_refund_1")]
            assert inbox[0]["cli"]["approve"] == f"stead approve {handle.run_id} call_refund_1"

            waiting = (await dashboard.client.get("/api/runs?status=waiting")).json()["runs"]
            assert [r["run_id"] for r in waiting] == [handle.run_id]
            assert (await dashboard.client.get("/api/runs?status=running")).json()["runs"] == []

            body: dict[str, Any] = {"call_id": "call_refund_1"}
            if decision == "reject":
                body["message"] = "Refunds need a receipt."
            response = await dashboard.client.post(f"/api/runs/{handle.run_id}/{decision}", json=body)
            assert response.status_code == 200, response.text
            expected_cli = f"stead {decision} {handle.run_id} call_refund_1"
            if decision == "reject":
                expected_cli += " -m 'Refunds need a receipt.'"
            assert response.json()["cli"] == expected_cli
            run = await finished(dashboard, handle.run_id)

    conversation = (await dashboard.client.get(f"/api/runs/{handle.run_id}/conversation")).json()["items"]
    [approval] = [i for i in conversation if i["type"] == "approval"]
    kinds = [(i["type"], i.get("tool")) for i in conversation]
    assert kinds.index(("approval", "issue_refund")) == kinds.index(("tool_call", "issue_refund")) + 1
    assert approval["tool"] == "issue_refund"
    if decision == "approve":
        assert run["result"].startswith("Done: I refunded 189.00 EUR") and approvals.refunds_made == ["1042"]
        assert approval["decision"] == "approved"
    else:
        assert "declined the refund" in run["result"] and approvals.refunds_made == []
        assert approval["decision"] == "rejected" and approval["message"] == "Refunds need a receipt."
    assert (await dashboard.client.get("/api/approvals")).json()["approvals"] == []
    response = await dashboard.client.post(
        f"/api/runs/{handle.run_id}/approve", json={"call_id": "call_refund_1"}
    )
    assert response.status_code == 409


async def test_send_and_cancel(dashboard: Dashboard) -> None:
    engine = dashboard.engine
    first = await engine.start(ui_app.chatty, ["hello"])
    second = await engine.start(ui_app.chatty, ["bye"])
    async with engine.worker([ui_app.chatty]):
        for handle in (first, second):
            await dashboard.until(handle.run_id, lambda r: r["waiting_for"] == ["go"])
        run = (await dashboard.client.get(f"/api/runs/{first.run_id}")).json()
        assert run["cli"]["send:go"] == f"stead send {first.run_id} go '{{}}'"

        response = await dashboard.client.post(
            f"/api/runs/{first.run_id}/messages", json={"name": "go", "payload": "yes"}
        )
        assert (
            response.status_code == 200
            and response.json()["cli"] == f"stead send {first.run_id} go '\"yes\"'"
        )
        assert await first.result(timeout=30) == "hello / yes"

        response = await dashboard.client.post(f"/api/runs/{second.run_id}/cancel")
        assert response.status_code == 200 and response.json()["cli"] == f"stead cancel {second.run_id}"
        with pytest.raises(stead.RunCancelled):
            await second.result(timeout=30)

    response = await dashboard.client.post(f"/api/runs/{first.run_id}/messages", json={"name": "go"})
    assert response.status_code == 409 and "completed" in response.json()["error"]["message"]
    response = await dashboard.client.post(f"/api/runs/{first.run_id}/messages", json={"payload": 1})
    assert response.status_code == 400 and "'name'" in response.json()["error"]["message"]
    response = await dashboard.client.post("/api/runs/nobody/cancel")
    assert response.status_code == 404 and response.json()["error"]["type"] == "RunNotFound"


async def test_resume_a_failed_run_after_the_fix(dashboard: Dashboard) -> None:
    handle = await dashboard.engine.start(ui_app.flaky, "bug-1")
    async with dashboard.engine.worker([ui_app.flaky]):
        run = await finished(dashboard, handle.run_id)
        assert run["status"] == "failed" and "bug-1 is not fixed" in run["error"]["message"]
        kept = (await dashboard.client.get(f"/api/runs/{handle.run_id}?include=steps")).json()
        assert kept["status"] == "failed" and kept["step_list"][0]["status"] == "failed"
        assert "Traceback" in run["error"]["details"]
        assert run["cli"]["resume"] == f"stead resume {handle.run_id}"
        [step] = (await dashboard.client.get(f"/api/runs/{handle.run_id}/steps")).json()["steps"]
        assert step["status"] == "failed" and step["attempts"] == 2
        assert [e["type"] for e in step["attempt_errors"]] == ["RuntimeError"]

        ui_app.fixed.add("bug-1")
        response = await dashboard.client.post(f"/api/runs/{handle.run_id}/resume")
        assert response.status_code == 200 and response.json()["cli"] == f"stead resume {handle.run_id}"
        assert await handle.result(timeout=30) == "fixed"
    # The failed run's page data was kept while it was finished; the run that finished again is read anew.
    run = (await dashboard.client.get(f"/api/runs/{handle.run_id}?include=steps")).json()
    assert run["status"] == "completed" and run["result"] == "fixed"
    assert [s["status"] for s in run["step_list"]] == ["done"]
    response = await dashboard.client.post(f"/api/runs/{handle.run_id}/resume")
    assert response.status_code == 409


async def test_paging_filters_and_search(dashboard: Dashboard) -> None:
    engine = dashboard.engine
    ids = [
        (await engine.start(ui_app.chatty, [f"word{n}"], run_id=f"run-{n:03d}")).run_id for n in range(130)
    ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
        page = (await dashboard.client.get("/api/runs", params=params)).json()
        seen += [r["run_id"] for r in page["runs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == ids[::-1]

    # A run started while someone pages does not shift the pages after it.
    first = (await dashboard.client.get("/api/runs", params={"limit": "10"})).json()
    await engine.start(ui_app.chatty, ["late"], run_id="run-late")
    second = (
        await dashboard.client.get("/api/runs", params={"limit": "10", "cursor": first["next_cursor"]})
    ).json()
    assert [r["run_id"] for r in second["runs"]] == ids[::-1][10:20]

    found = (await dashboard.client.get("/api/runs", params={"q": "word12"})).json()["runs"]
    assert sorted(r["run_id"] for r in found) == ["run-012", *[f"run-{n}" for n in range(120, 130)]]
    searched = (await dashboard.client.get("/api/runs", params={"q": "WORD12", "limit": "5"})).json()
    assert len(searched["runs"]) == 5 and searched["next_cursor"] is not None
    rest = (
        await dashboard.client.get("/api/runs", params={"q": "word12", "cursor": searched["next_cursor"]})
    ).json()
    assert len(rest["runs"]) == 6 and rest["next_cursor"] is None

    # Many runs started at once (more than one refresh of the index reads): a search still sees every one.
    more = [
        (await engine.start(ui_app.chatty, [f"bulk{n}"], run_id=f"bulk-{n:03d}")).run_id for n in range(250)
    ]
    found = []
    cursor = None
    while True:
        params = {"q": "bulk", "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = (await dashboard.client.get("/api/runs", params=params)).json()
        found += [r["run_id"] for r in page["runs"]]
        if not (cursor := page["next_cursor"]):
            break
    assert found == more[::-1]
    assert (
        len((await dashboard.client.get("/api/runs", params={"q": "chatty", "limit": "500"})).json()["runs"])
        == 381
    )

    pending = (
        await dashboard.client.get(
            "/api/runs", params={"status": "pending", "workflow": "chatty", "limit": "500"}
        )
    ).json()
    assert len(pending["runs"]) == 381
    assert (await dashboard.client.get("/api/runs", params={"status": "completed"})).json()["runs"] == []
    assert (await dashboard.client.get("/api/runs", params={"workflow": "other"})).json()["runs"] == []
    for params, message in [
        ({"status": "sleeping"}, "unknown status ['sleeping']"),
        ({"limit": "0"}, "limit must be between 1 and 500"),
        ({"limit": "many"}, "limit must be a number"),
        ({"cursor": "%%%"}, "invalid cursor"),
    ]:
        response = await dashboard.client.get("/api/runs", params=params)
        assert response.status_code == 400 and message in response.json()["error"]["message"], response.text


async def read_events(
    response: httpx.Response, count: int | None = None
) -> list[tuple[str, str | None, Any]]:
    """(event, id, data) of the SSE messages of a streamed response, until ``count`` messages or the end."""
    out: list[tuple[str, str | None, Any]] = []
    event, event_id = "message", None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                out.append((event, event_id, json.loads("\n".join(data))))
                if count is not None and len(out) >= count:
                    return out
            event, event_id, data = "message", None, []
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
    return out


async def test_events_resume_after_a_disconnect(dashboard: Dashboard) -> None:
    handle = await dashboard.engine.start(ui_app.chatty, ["one", "two", "three", "four"])
    url = f"/api/runs/{handle.run_id}/events"
    async with dashboard.engine.worker([ui_app.chatty]):
        async with dashboard.client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            first = await read_events(response, 3)
        assert [(e[2]["kind"], e[2]["data"]) for e in first] == [
            ("text", "one "),
            ("text", "two "),
            ("text", "three "),
        ]
        assert [e[1] for e in first] == [str(e[2]["id"]) for e in first]

        # Reconnect as EventSource does, with the id of the last event received.
        async with dashboard.client.stream(
            "GET", url, headers={"Last-Event-ID": first[-1][1] or ""}
        ) as response:
            second = await read_events(response, 1)
        assert [(e[2]["kind"], e[2]["data"]) for e in second] == [("text", "four ")]
        assert int(second[0][1] or 0) == int(first[-1][1] or 0) + 1

        await dashboard.until(handle.run_id, lambda r: r["waiting_for"] == ["go"])
        await dashboard.engine.send(handle.run_id, "go", "ok")
        async with dashboard.client.stream("GET", url, params={"after": second[-1][1]}) as response:
            rest = await read_events(response)
    assert rest[-1][0] == "end" and rest[-1][2] == {"status": "completed"}
    response = await dashboard.client.get(f"{url}?after=x")
    assert response.status_code == 400
    response = await dashboard.client.get("/api/runs/nobody/events")
    assert response.status_code == 404


async def test_openapi_and_pages(dashboard: Dashboard) -> None:
    spec = (await dashboard.client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/runs",
        "/api/runs/{run_id}/events",
        "/api/runs/{run_id}/approve",
        "/api/runs/{run_id}/resume",
        "/api/runs/{run_id}/fork",
        "/api/runs/{run_id}/steps/{position}",
    ):
        assert path in spec["paths"]
    for page in ("/", "/runs/some-run", "/approvals"):
        response = await dashboard.client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert (await dashboard.client.get("/static/app.js")).status_code == 200


async def test_token_and_origin_rules(tmp_path: Path) -> None:
    token = "t0ken-" + "x" * 20
    async with stead.connect(f"sqlite:///{tmp_path}/s.db") as engine:
        handle = await engine.start(ui_app.chatty, ["hi"])
        async with Server(engine, port=0, token=token) as server:
            assert server.login_url == f"{server.url}/?token={token}"
            async with httpx.AsyncClient(base_url=server.url) as client:
                for method, path in [
                    ("GET", "/api/runs"),
                    ("POST", f"/api/runs/{handle.run_id}/cancel"),
                    ("POST", f"/api/runs/{handle.run_id}/fork"),
                    ("GET", f"/api/runs/{handle.run_id}/steps/0:0"),
                    ("GET", "/"),
                ]:
                    response = await client.request(method, path)
                    assert response.status_code == 401, (method, path)
                    assert "token" in response.json()["error"]["message"]
                bad = await client.get("/api/runs", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
                assert bad.status_code == 401
                good = await client.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
                assert good.status_code == 200 and good.json()["runs"][0]["run_id"] == handle.run_id
                assert token not in good.text

                # The URL printed once: the page sets a cookie and drops the token from the address.
                login = await client.get(f"/runs/{handle.run_id}?token={token}")
                assert login.status_code == 303 and login.headers["location"] == f"/runs/{handle.run_id}"
                assert "httponly" in login.headers["set-cookie"].lower()
                page = await client.get("/")
                assert page.status_code == 200 and token not in page.text

                # A page of another site cannot make the browser change anything, cookie or not.
                forged = await client.post(
                    f"/api/runs/{handle.run_id}/cancel", headers={"Origin": "http://evil.example"}
                )
                assert forged.status_code == 403
                # Nor can it reach the server under another name (DNS rebinding).
                rebound = await client.get("/api/runs", headers={"Host": "evil.example"})
                assert rebound.status_code == 400
                ours = await client.post(f"/api/runs/{handle.run_id}/cancel", headers={"Origin": server.url})
                assert ours.status_code == 200

        # Another address than loopback needs a token: one is made when none is given.
        open_server = Server(engine, host="0.0.0.0", port=0)
        assert open_server.token is not None and len(open_server.token) >= 24
        assert open_server.login_url.endswith(f"/?token={open_server.token}")
        assert Server(engine, port=0).token is None
        with pytest.raises(stead.UsageError, match="at least 16"):
            Server(engine, port=0, token="short")


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "starlette" or m.startswith(("starlette.", "stead.ui"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)  # what `import starlette` finds when not installed
    with pytest.raises(stead.ExtraMissing, match=r"pip install 'stead\[ui\]'"):
        importlib.import_module("stead.ui")


async def spawn_worker(dashboard: Dashboard, run_id: str, **env: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ui_app.WORKER,
        dashboard.engine.url,
        run_id,
        cwd=ROOT,
        env=procs_env(**env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    return track(proc)


@pytest.mark.slow
async def test_events_resume_after_the_worker_is_killed(dashboard: Dashboard) -> None:
    handle = await dashboard.engine.start(ui_app.teller, ["a", "durable", "story"])
    url = f"/api/runs/{handle.run_id}/events"
    first_worker = await spawn_worker(dashboard, handle.run_id, STEAD_UI_HANG="1")
    try:
        async with dashboard.client.stream("GET", url) as response:
            before = await read_events(response, 3)
            assert [(e[2]["attempt"], e[2]["data"]) for e in before] == [
                (1, "a "),
                (1, "durable "),
                (1, "story "),
            ]
            first_worker.kill()  # SIGKILL in the middle of the step: no cleanup runs
            assert await first_worker.wait() == -signal.SIGKILL
    finally:
        if first_worker.returncode is None:
            first_worker.kill()
            await first_worker.wait()

    # The client reconnects after the disconnect; another worker takes the run over and streams the step again.
    second_worker = await spawn_worker(dashboard, handle.run_id)
    async with dashboard.client.stream(
        "GET", url, headers={"Last-Event-ID": before[-1][1] or ""}
    ) as response:
        after = await read_events(response)
    _, stderr = await second_worker.communicate()
    assert second_worker.returncode == 0, stderr.decode()
    texts = [e[2]["data"] for e in after if e[0] == "message" and e[2]["kind"] == "text"]
    assert texts == ["a ", "durable ", "story "]
    assert all(int(e[1] or 0) > int(before[-1][1] or 0) for e in after if e[0] == "message")
    assert after[-1][0] == "end" and after[-1][2] == {"status": "completed"}
    assert await handle.result(timeout=10) == "a durable story"


@pytest.mark.slow
@pytest.mark.parametrize(("command", "token"), [("ui", ""), ("serve", "a-token-of-twenty-chars")])
async def test_serve_prints_the_url_once_and_stops_on_ctrl_c(
    tmp_path: Path, command: str, token: str
) -> None:
    # What a person types: `stead ui` / `stead serve`, the engine option after the command.
    proc = track(
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stead.cli",
            command,
            "--engine",
            f"sqlite:///{tmp_path}/s.db",
            "--port",
            "0",
            *(["--token", token] if token else []),
            cwd=ROOT,
            env=procs_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("stead ui: http://127.0.0.1:"), line
        url = line.split()[2]
        assert url.endswith(f"/?token={token}" if token else "/")
        base = url.split("/?")[0].rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=base) as client:
            info = (await client.get("/api/info", headers=headers)).json()
            assert info == {
                "engine": "sqlite",
                "version": stead.__version__,
                "statuses": ["pending", "running", "waiting", "completed", "failed", "cancelled"],
                "token_required": bool(token),
            }
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0 and b"Traceback" not in stderr, stderr.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
