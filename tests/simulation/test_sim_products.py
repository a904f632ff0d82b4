"""write_products and the ``promptproc simulate`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptproc.cli import main
from promptproc.cli.simulate_cmd import simulate
from promptproc.image import read_exposure_fits, read_raw_fits
from promptproc.simulation import SimulatedObservatory, SimulationConfig


def test_write_products_layout(tmp_path: Path) -> None:
    obs = SimulatedObservatory(SimulationConfig(detector_size=128, n_visits=2, filters=("r",), seed=3))
    manifest = obs.write_products(tmp_path, detectors=[4])
    assert len(manifest.raws) == 2
    for path in manifest.raws:
        assert path.with_suffix(".json").exists()
        assert read_raw_fits(path).detector == 4
    assert (tmp_path / "calibs" / "epoch0" / "bias" / "bias_R22_S11.fits").exists()
    assert (tmp_path / "calibs" / "epoch1" / "flat" / "flat_r_R22_S11.fits").exists()
    assert (tmp_path / "calibs" / "epoch0" / "defects" / "defects_R22_S11.fits").exists()
    assert len(manifest.templates) == len(obs.template_patches())
    template = read_exposure_fits(manifest.templates[0])
    assert template.photo_calib is not None
    assert (tmp_path / "refcat" / "refcat.fits").exists()
    assert (tmp_path / "truth" / "visits.ecsv").exists()
    summary = json.loads((tmp_path / "manifest.json").read_text())
    assert summary["config"]["seed"] == 3
    assert [e["name"] for e in summary["calibration_epochs"]] == ["epoch0", "epoch1"]
    assert set(summary["files"]) == {"raws", "calibs", "templates", "refcat", "truth"}
    assert json.loads((tmp_path / "instrument.json").read_text())["name"] == "SimCam"


def test_cli_help() -> None:
    runner = CliRunner()
    for args in ([], ["products"], ["raw"], ["preview"]):
        result = runner.invoke(simulate, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_cli_raw(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate,
        ["raw", "--out", str(tmp_path), "--visit-index", "1", "--detector", "2", "--detector-size", "128"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("_R22_S02.fits")
    assert Path(lines[0]).exists()
    assert Path(lines[1]).exists()
    assert "simulated and written in" in lines[2]
    assert lines[2].endswith(" s")


def test_cli_products(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate,
        [
            "products",
            "--out",
            str(tmp_path),
            "--detector-size",
            "64",
            "--visits",
            "1",
            "--filters",
            "g",
            "--detectors",
            "0,4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 raws" in result.output
    assert (tmp_path / "manifest.json").exists()


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "raw", "--out", str(tmp_path), "--filters", "z", "--detector-size", "64"])
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown filter" in err
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "raw", "--out", str(tmp_path), "--detector", "12", "--detector-size", "64"])
    assert stop.value.code == 1
    assert "no detector 12" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "raw", "--out", str(tmp_path), "--visit-index", "9", "--detector-size", "64"])
    assert "visit index 9" in capsys.readouterr().err


def test_cli_preview(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate, ["preview", "--out", str(tmp_path), "--detector-size", "128", "--visits", "2"]
    )
    assert result.exit_code == 0, result.output
    for name in ("raw.png", "calibrated.png", "template.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
