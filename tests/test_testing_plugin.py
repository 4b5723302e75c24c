"""stead.testing.pytest, as a user's test suite sees it: run in a pytest of its own (pytester)."""

from __future__ import annotations

import pytest

USER_TESTS = """
import pytest
from agents import Agent, Runner

import stead
from stead.testing import Reply, Text
from stead.testing.pytest import FakeModels


@stead.workflow
async def greet(name: str) -> str:
    agent = Agent(name="Greeter", instructions="Greet.", model="gpt-4o-mini")
    return str((await Runner.run(agent, f"Hi, I am {name}")).final_output)


async def test_a_workflow_talks_to_the_fake_model(stead_engine: stead.Engine, fake_openai: FakeModels) -> None:
    server = fake_openai([Reply(Text("Hello, Ada!"))])
    handle = await stead_engine.start(greet, "Ada")
    async with stead_engine.worker([greet]):
        assert await handle.result(timeout=30) == "Hello, Ada!"
    assert server.requests[0].input_text == "Hi, I am Ada"
    assert [s.kind for s in await stead_engine.steps(handle.run_id)] == ["model"]


def test_the_engine_is_a_fresh_sqlite_file(stead_engine_url: str, tmp_path) -> None:
    assert stead_engine_url == f"sqlite:///{tmp_path}/stead.db"


async def test_a_model_call_fails_the_test(stead_engine: stead.Engine, no_model_calls: object) -> None:
    handle = await stead_engine.start(greet, "Bob")
    async with stead_engine.worker([greet]):
        with pytest.raises(stead.RunFailed, match="no_model_calls"):
            await handle.result(timeout=30)


def test_no_other_host(no_model_calls: object) -> None:
    import socket

    with pytest.raises(AssertionError, match="local fake servers"), socket.create_connection(("192.0.2.1", 80)):
        pass
"""


@pytest.fixture
def user_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["stead.testing.pytest"]\n')
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_the_fixtures_in_a_users_suite(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess("-p", "no:cacheprovider")
    # The model-call test passes its own assertions, then the guard fails it at teardown.
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*no_model_calls: the test called a model 1 time(s) (gpt-4o-mini)*"])


def test_a_temporal_address_runs_each_test_on_both_engines(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--stead-temporal", "127.0.0.1:1", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(
        [
            "*test_a_workflow_talks_to_the_fake_model[[]sqlite[]]",
            "*test_a_workflow_talks_to_the_fake_model[[]temporal[]]",
            "*test_the_engine_is_a_fresh_sqlite_file[[]temporal[]]",
        ]
    )


def test_stead_engines_rejects_an_unknown_engine(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess("-p", "no:cacheprovider", "-o", "stead_engines=sqlite postgres")
    assert result.ret != 0
    assert "stead_engines: unknown engine(s) ['postgres']; use sqlite and temporal" in result.stderr.str()
