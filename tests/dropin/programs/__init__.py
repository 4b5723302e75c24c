"""The drop-in corpus: Agents SDK programs in the spirit of the SDK's examples and the Temporal samples.

Workers load this package (``stead worker tests.dropin.programs``): every program's workflow is a module-level
name here.
"""

from __future__ import annotations

from . import basics, flow, runs, state
from ._kit import EFFECTS, PROGRAMS, Program, arrived, reset_order, route

_modules = (basics, flow, runs, state)
globals().update({p.workflow.name: p.workflow for p in PROGRAMS.values()})

__all__ = ["EFFECTS", "PROGRAMS", "Program", "arrived", "reset_order", "route"]
