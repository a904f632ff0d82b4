"""Tests of the ``promptproc`` command line: exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from promptproc.cli import cli, main
from promptproc.errors import ConfigurationError
from promptproc.settings import setting_docs

PROMPTPROC = Path(sys.executable).with_name("promptproc")
SETTING_NAMES = {doc.name for doc in setting_docs()}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``promptproc`` script with no promptproc setting but ``env``."""
    environment = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    environment.update(env)
    return subprocess.run(
        [str(PROMPTPROC), *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every promptproc setting from os.environ for one test."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("promptproc: error: "), stderr
    return lines[0]


def test_help_through_the_installed_script() -> None:
    assert PROMPTPROC.exists(), "the promptproc entry point is not installed in this environment"
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: promptproc" in result.stdout
    assert "config" in result.stdout


def test_config_help_through_the_installed_script() -> None:
    result = _run("config", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--json", "--markdown", "--check"):
        assert option in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = _run("no-such-command")
    assert result.returncode == 2
    assert "no-such-command" in _one_error_line(result.stderr)
    assert result.stdout == ""


def test_bad_setting_is_a_one_line_runtime_failure() -> None:
    result = _run("config", IMAGE_TIMEOUT="soon")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "IMAGE_TIMEOUT" in line
    assert "Traceback" not in result.stderr


def test_secrets_stay_masked_through_the_installed_script() -> None:
    result = _run("config", "--json", AWS_SECRET_ACCESS_KEY="hunter2", REDIS_PASSWORD="swordfish")
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "swordfish" not in result.stdout
    assert '"**********"' in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-such-option"],
        ["config", "--no-such-option"],
        ["config", "--json", "--markdown"],
        ["--log-level", "LOUD", "config"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    _one_error_line(capsys.readouterr().err)


def test_runtime_failures_exit_1_with_one_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    clean_env.setenv("MAIN_PIPELINES_CONFIG", "- survey: A\n  pipelines: [a.yaml\n")
    with pytest.raises(SystemExit) as stop:
        main(["config"])
    assert stop.value.code == 1
    assert "MAIN_PIPELINES_CONFIG" in _one_error_line(capsys.readouterr().err)

    clean_env.delenv("MAIN_PIPELINES_CONFIG")
    clean_env.setenv("PLATFORM", "keda")
    with pytest.raises(SystemExit) as stop:
        main(["config", "--check"])
    assert stop.value.code == 1
    captured = capsys.readouterr()
    assert "REDIS_STREAM_HOST" in _one_error_line(captured.err)
    assert "PLATFORM" in captured.out  # the settings are printed before the check fails


def test_debug_shows_the_traceback(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IMAGE_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="IMAGE_TIMEOUT"):
        main(["--debug", "config"])


def test_markdown_needs_no_valid_settings(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    clean_env.setenv("IMAGE_TIMEOUT", "soon")
    with pytest.raises(SystemExit) as stop:
        main(["config", "--markdown"])
    assert stop.value.code == 0
    assert "| `IMAGE_TIMEOUT` |" in capsys.readouterr().out


def test_no_command_shows_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Usage: promptproc")
    assert "Commands:" in captured.err


def test_exit_code_of_a_command_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("exit-three")
    @click.pass_context
    def exit_three(ctx: click.Context) -> None:
        ctx.exit(3)

    monkeypatch.setitem(cli.commands, "exit-three", exit_three)
    with pytest.raises(SystemExit) as stop:
        main(["exit-three"])
    assert stop.value.code == 3
