"""``promptproc demo`` end to end on a tiny night, then replayed: nothing is duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptproc.activator import PHASES
from promptproc.alerts import read_alerts
from promptproc.apdb import describe_apdb
from promptproc.cli import cli
from promptproc.demo import DEFAULTS, DemoLayout, DemoOptions, run_demo
from promptproc.errors import ConfigurationError

pytestmark = pytest.mark.slow

NIGHT = ["--visits", "1", "--detectors", "2", "--size", "512", "--exposure-time", "10", "--lead-time", "2"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoLayout, str]:
    """The demo run once through the command line, in a new work directory."""
    workdir = tmp_path_factory.mktemp("demo") / "work"
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir), *NIGHT], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return DemoLayout(workdir.absolute()), result.output


def _records(layout: DemoLayout) -> list[dict]:
    return json.loads(layout.summary.read_text())


def test_first_run_prints_and_writes_the_results(first_run: tuple[DemoLayout, str]) -> None:
    layout, output = first_run
    assert "DIA src" in output
    assert "2 detector-visits, 2 succeeded" in output
    assert f"butler query-datasets {layout.central}" in output
    records = _records(layout)
    assert sorted(record["detector"] for record in records) == [0, 1]
    for record in records:
        assert record["status"] == "success", record
        assert isinstance(record["visit"], int)
        assert record["dia_sources"] > 0
        assert record["alerts"] == record["dia_sources"]
        assert set(record["phases"]) == set(PHASES)
        assert record["apdb"] == "stored"
        alerts = read_alerts(layout.alerts / f"{record['visit']}_{record['detector']}.avro")
        assert len(alerts) == record["alerts"]
    assert (layout.central / "butler.yaml").is_file()
    assert layout.apdb_config.is_file()
    assert layout.log_file.stat().st_size > 0
    assert not list(layout.local_repos.glob("butler-*")), "the worker's local repository is deleted"


def test_replay_duplicates_nothing(first_run: tuple[DemoLayout, str]) -> None:
    layout, _ = first_run
    before = _records(layout)
    rows = describe_apdb(layout.apdb_config, count_rows=True).row_counts
    alerts = {path.name: path.read_bytes() for path in layout.alerts.glob("*.avro")}
    lines: list[str] = []

    report = run_demo(DemoOptions(workdir=layout.root, lead_time=2.0), echo=lines.append)

    assert report.setup.reused
    assert any("Reusing" in line for line in lines)
    assert report.ok
    assert len(report.results) == len(before)
    for result in report.results:
        assert result.exported == 0
        assert result.already_exported > 0
        assert result.apdb == "already stored"
        assert result.alerts == 0
    assert describe_apdb(layout.apdb_config, count_rows=True).row_counts == rows
    assert {path.name: path.read_bytes() for path in layout.alerts.glob("*.avro")} == alerts
    assert [record["dia_sources"] for record in _records(layout)] == [r["dia_sources"] for r in before]


def test_reuse_with_other_options_is_refused(first_run: tuple[DemoLayout, str]) -> None:
    layout, _ = first_run
    with pytest.raises(ConfigurationError, match="--size"):
        run_demo(DemoOptions(workdir=layout.root, size=1024), echo=lambda line: None)


def test_help_shows_the_defaults() -> None:
    """The command's help (written out, to keep ``promptproc --help`` light) matches the defaults."""
    text = " ".join(CliRunner().invoke(cli, ["demo", "--help"]).output.split())
    for option, name in [
        ("visits", "visits"),
        ("detectors", "detectors"),
        ("size", "size"),
        ("seed", "seed"),
    ]:
        assert f"--{option}" in text
        assert f"[default: {DEFAULTS[name]}]" in text
    assert f"[default: {DEFAULTS['exposure_time']:g}]" in text
    assert f"[default: {DEFAULTS['visit_interval']:g}]" in text
    assert f"[default: {','.join(DEFAULTS['filters'])}]" in text


def test_never_replaces_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(precious), "--replace"])
    assert result.exit_code != 0
    assert (precious / "thesis.tex").is_file()
