"""``promptproc demo``: run a short simulated night on the embedded default."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..activator import VisitResult

__all__ = ["demo"]


@contextlib.contextmanager
def _quiet_console() -> Iterator[None]:
    """Keep the console for the demo's own lines while it runs; log records go to its log file.

    Failures still show: each visit's outcome is printed, and the table lists
    every failed visit with its error.
    """
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    levels = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-work"),
    show_default=True,
    help="Where the central repository, APDB, raw bucket, alerts, logs and summary.json go.",
)
@click.option(
    "--reuse/--replace",
    default=True,
    show_default=True,
    help="Reuse an earlier demo's work directory (replay its visits: nothing is duplicated) "
    "or delete it and simulate a new night.",
)
@click.option("--visits", type=click.IntRange(min=1), default=None, help="Visits of the night [default: 3].")
@click.option(
    "--detectors", type=click.IntRange(1, 9), default=None, help="Detectors per visit [default: 9]."
)
@click.option(
    "--size",
    type=click.IntRange(min=64),
    default=None,
    help="Detector width and height, pixels, a multiple of 8 [default: 512].",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Simulation seed [default: 7].")
@click.option(
    "--filters",
    default=None,
    help="Comma-separated physical filters, cycled visit after visit [default: r].",
)
@click.option(
    "--exposure-time",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Seconds of each exposure; raws land this long after the exposure starts [default: 15].",
)
@click.option(
    "--interval",
    "visit_interval",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Seconds between the starts of consecutive visits [default: 30].",
)
@click.option(
    "--lead-time",
    type=click.FloatRange(min=0.0),
    default=15.0,
    show_default=True,
    help="Seconds from now to the first exposure of a new night (covers the set-up).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Workers processing detector-visits side by side (threads, each with its own local "
    "repository); more than one helps little, the science holding Python's global lock.",
)
def demo(
    workdir: Path,
    reuse: bool,
    visits: int | None,
    detectors: int | None,
    size: int | None,
    seed: int | None,
    filters: str | None,
    exposure_time: float | None,
    visit_interval: float | None,
    lead_time: float,
    workers: int,
) -> None:
    """Process a short simulated night with the embedded default and print what each visit produced.

    Builds a SQLite central repository and APDB in WORKDIR, announces each
    visit and "uploads" its raws an exposure later, processes every
    detector-visit (prepare, wait, ingest, run, export, clean), and prints a
    table of DIA sources, alerts and seconds per phase.  Running it again
    with the same WORKDIR replays the same visits, which adds nothing to the
    central repository, the APDB or the alerts.
    """
    from ..demo import DemoOptions, format_table, run_demo

    options = DemoOptions(
        workdir=workdir,
        replace=not reuse,
        visits=visits,
        detectors=detectors,
        size=size,
        seed=seed,
        filters=tuple(f.strip() for f in filters.split(",") if f.strip()) if filters else None,
        exposure_time=exposure_time,
        visit_interval=visit_interval,
        lead_time=lead_time,
        workers=workers,
    )

    def progress(result: VisitResult) -> None:
        click.echo(f"  {result.summary()}")

    with _quiet_console():
        report = run_demo(options, echo=click.echo, on_result=progress)
    layout = report.setup.layout
    click.echo("")
    click.echo(format_table(report.results))
    click.echo("")
    seconds = report.seconds
    click.echo(
        f"Finished in {seconds.get('total', 0.0):.0f} s (set-up "
        f"{seconds.get('central repository', 0.0) + seconds.get('APDB', 0.0):.0f} s, worker start-up "
        f"{seconds.get('worker start-up', 0.0):.0f} s, night {seconds.get('night', 0.0):.0f} s)."
    )
    click.echo(f"Everything is in {layout.root}:")
    click.echo(f"  central repository  {layout.central}")
    click.echo(f"      butler query-datasets {layout.central} --collections 'SimCam/prompt/*'")
    click.echo(f"  APDB                {layout.apdb_database}")
    click.echo(f"      promptproc apdb info {layout.apdb_config} --counts")
    click.echo(f"  alerts (Avro)       {layout.alerts}")
    click.echo(f"  raw bucket          {layout.raws}")
    click.echo(f"  results             {layout.summary}")
    click.echo(f"  worker log (JSON)   {layout.log_file}")
    click.echo(
        "Run it again to replay these visits (nothing is duplicated), or add --replace for a new night."
    )
    if not report.ok:
        raise click.exceptions.Exit(1)
