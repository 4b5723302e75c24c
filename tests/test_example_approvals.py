"""The approvals example, offline: the refund waits for a person; approve or reject it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stead
from stead.agents import approve, reject
from stead.testing._offline import offline_models, offline_script_for

from .procs import ROOT

sys.path.insert(0, str(ROOT / "examples"))

import approvals  # noqa: E402

REQUEST = "Order 1042 arrived broken, please refund it"


async def waiting(engine: stead.Engine, run_id: str) -> stead.RunInfo:
    info = await engine.wait(run_id, 30, until="waiting")
    if not info.waiting_for:
        raise AssertionError(f"the run never waited: it {info.status}")
    return info


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_refund_waits_for_a_person(tmp_path: Path, decision: str) -> None:
    script = offline_script_for(str(ROOT / "examples" / "approvals.py"))
    assert script is not None
    approvals.refunds_made.clear()
    with offline_models(script):
        engine = stead.connect(f"sqlite:///{tmp_path}/s.db")
        try:
            handle = await engine.start(approvals.refund_desk, REQUEST)
            async with engine.worker([approvals.refund_desk]):
                info = await waiting(engine, handle.run_id)
                assert info.waiting_for == ["approval:call_refund_1"]
                [pending] = info.state["approvals"]
                assert pending["tool"] == "issue_refund" and pending["call_id"] == "call_refund_1"
                assert approvals.refunds_made == []
                if decision == "approve":
                    await approve(engine, handle.run_id, "call_refund_1")
                else:
                    await reject(engine, handle.run_id, "call_refund_1", message="Refunds need a receipt.")
                result = await handle.result(timeout=30)
        finally:
            await engine.close()
    if decision == "approve":
        assert result.startswith("Done: I refunded 189.00 EUR")
        assert approvals.refunds_made == ["1042"]
    else:
        assert "declined the refund: refunds need a receipt" in result
        assert approvals.refunds_made == []
