"""docs/offline.schema.json describes the offline scripts: every example's script fits it, and the loader refuses
what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stead.testing import OfflineScriptError, load_offline_script

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "offline.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLES = sorted({*ROOT.glob("examples/**/*.offline.json"), *ROOT.glob("examples/**/offline.json")})


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_script_fits_the_schema_and_loads(script: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(json.loads(script.read_text()))]
    assert errors == []
    load_offline_script(script)


def test_there_are_example_scripts() -> None:
    assert len(EXAMPLES) >= 5


BAD: list[Any] = [
    5,
    {"rules": [], "extra": 1},
    {"rules": [{"match": {"input_has": "x"}, "reply": "hi"}]},
    {"rules": [{"match": {}}]},
    [{"txt": "hi"}],
    [{}],
    [{"tool_calls": [{"arguments": {}}]}],
    [{"tool_calls": [{"name": "f", "arguments": 3}]}],
    {"rules": [], "default": {"usage": {"input_tokens": 1, "output_tokens": 1}}},
]


@pytest.mark.parametrize("script", BAD, ids=lambda s: json.dumps(s)[:40])
def test_the_loader_refuses_what_the_schema_refuses(script: Any, tmp_path: Path) -> None:
    assert list(VALIDATOR.iter_errors(script)), "the schema should refuse it"
    path = tmp_path / "bad.offline.json"
    path.write_text(json.dumps(script))
    with pytest.raises(OfflineScriptError, match=str(path)):
        load_offline_script(path)
