"""Where people put options: the engine before or after the command, unknown options refused, ``--``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stead.cli import cli

from .test_cli import APP, api, popen, read_until

pytestmark = pytest.mark.usefixtures("no_stead_engine")


@pytest.fixture
def no_stead_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STEAD_ENGINE", raising=False)
    monkeypatch.chdir(tmp_path)  # the default engine, should an option be lost, is .stead/ here


def stead(*args: str, env: dict[str, str] | None = None) -> Result:
    """``stead ARGS...`` as typed: no engine option added."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def runs_in(url: str) -> list[str]:
    return [r.run_id for r in api(url, lambda e: e.list())]


@pytest.mark.parametrize(
    "where",
    [
        ["--engine", "{url}", "run", "{app}:add", "1", "2"],
        ["run", "--engine", "{url}", "{app}:add", "1", "2"],
        ["run", "{app}:add", "--engine", "{url}", "1", "2"],
        ["run", "{app}:add", "1", "2", "-e", "{url}"],
        ["run", "{app}:add", "1", "2", "--engine={url}"],
    ],
    ids=["before-the-command", "after-the-command", "after-the-target", "short-at-the-end", "equals"],
)
def test_the_engine_option_works_before_or_after_the_command(tmp_path: Path, where: list[str]) -> None:
    url = f"sqlite:///{tmp_path}/chosen.db"
    args = [w.format(url=url, app=APP) for w in where]
    result = stead(*args, "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"  # 1 + 2: the engine option and its URL are not workflow arguments
    assert len(runs_in(url)) == 1
    assert not (tmp_path / ".stead").exists()


def test_stead_engine_from_the_environment_and_an_option_after_the_command_wins(tmp_path: Path) -> None:
    env_url, option_url = f"sqlite:///{tmp_path}/env.db", f"sqlite:///{tmp_path}/option.db"
    assert stead("run", f"{APP}:add", "1", "2", "-q", env={"STEAD_ENGINE": env_url}).exit_code == 0
    assert len(runs_in(env_url)) == 1
    result = stead("--engine", env_url, "ls", "--engine", option_url, "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "[]"  # the option given after `ls` chose the (empty) engine


def test_worker_takes_the_engine_option_after_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    proc = popen(url, "worker", "--engine", url, str(APP))
    try:
        line = read_until(proc.stdout, "stead worker on")[-1]
        assert f"stead worker on {url}:" in line
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("typo", ["--ofline", "--jsn", "-x", "-qz"])
def test_an_unknown_option_after_the_target_is_an_error_not_an_argument(tmp_path: Path, typo: str) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    result = stead("--engine", url, "run", f"{APP}:haiku", "hello", typo)
    assert result.exit_code == 2
    name = typo if typo.startswith("--") else f"-{typo[-1]}"
    assert f"No such option: {name}" in result.stderr
    assert "after '--'" in result.stderr
    assert runs_in(url) == []
    if typo == "--ofline":
        assert "Did you mean '--offline'?" in result.stderr


def test_double_dash_passes_arguments_that_start_with_a_dash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    result = stead("-e", url, "run", f"{APP}:haiku", "--json", "--", "--verbose please")
    assert result.exit_code == 0, result.output
    assert '"topic": "--verbose please"' in result.stdout
    # Negative numbers need no `--`; an option's value may start with a dash.
    result = stead("-e", url, "run", f"{APP}:add", "-1", "-2", "-k", "scale=-3", "-q")
    assert (result.exit_code, result.stdout) == (0, "9\n")


def test_spawned_stead_run_with_engine_after_the_target(tmp_path: Path) -> None:
    """The README's order, in a real process: ``stead run FILE:WF --engine URL ARG``."""
    url = f"sqlite:///{tmp_path}/p.db"
    proc = popen(url, "run", f"{APP}:add", "--engine", url, "4", "5", "-q")
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "9\n"), err
