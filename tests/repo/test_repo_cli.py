"""``promptproc repo``: one test per command for the wiring, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsst.daf.butler import Butler

from promptproc.cli import main

PROMPTPROC = Path(sys.executable).with_name("promptproc")


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("promptproc: error: "), stderr
    return lines[0]


def test_create_command(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    result = subprocess.run(
        [str(PROMPTPROC), "repo", "create", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "created repository" in result.stdout
    Butler.from_config(str(root)).close()

    again = subprocess.run(
        [str(PROMPTPROC), "repo", "create", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1
    assert "a repository already exists" in _one_error_line(again.stderr)


def test_create_command_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _main(
        capsys, "repo", "create", str(tmp_path / "r"), "--registry", "postgresql://postgres@127.0.0.1:1/x"
    )
    assert code == 1
    assert "cannot connect to PostgreSQL" in _one_error_line(err)
    code, _, err = _main(capsys, "repo", "create", str(tmp_path / "r"), "--registry", "oracle://db")
    assert code == 1
    assert "unsupported registry scheme 'oracle'" in _one_error_line(err)


def test_bootstrap_sim_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = tmp_path / "repo"
    code, _, err = _main(capsys, "repo", "create", str(root))
    assert code == 0, err
    code, _, err = _main(capsys, "repo", "bootstrap-sim", str(root), "--instrument", "NoCam")
    assert code == 1
    assert "unknown instrument 'NoCam'" in _one_error_line(err)
    code, _, err = _main(capsys, "repo", "bootstrap-sim", str(tmp_path / "none"))
    assert code == 1
    assert "no Butler repository" in _one_error_line(err)
    code, out, err = _main(
        capsys,
        "repo",
        "bootstrap-sim",
        str(root),
        "--seed",
        "3",
        "--detector-size",
        "128",
        "--visits",
        "2",
        "--filters",
        "r",
        "--calib-frames",
        "2",
        "--detectors",
        "0,8",
    )
    assert code == 0, err
    assert "bias" in out
    assert "template_coadd" in out
    assert "step seconds" in out
    butler = Butler.from_config(str(root))
    biases = butler.query_datasets("bias", collections="SimCam/calib", find_first=False)
    assert {ref.dataId["detector"] for ref in biases} == {0, 8}
    butler.close()
