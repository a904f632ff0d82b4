"""``promptproc simulate``: write simulated raws, calibrations, templates and previews."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import PromptprocError

__all__ = ["simulate"]


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options that build a `SimulationConfig`, shared by every subcommand."""
    options = [
        click.option(
            "--seed", type=click.IntRange(min=0), default=42, show_default=True, help="Random seed."
        ),
        click.option(
            "--detector-size",
            type=int,
            default=None,
            help="Detector width and height in pixels (multiple of 8) [default: 512, or 1024 for preview].",
        ),
        click.option(
            "--visits", "n_visits", type=click.IntRange(min=1), default=6, show_default=True, help="Visits."
        ),
        click.option("--ra", type=float, default=150.0, show_default=True, help="Field centre RA, degrees."),
        click.option("--dec", type=float, default=2.2, show_default=True, help="Field centre Dec, degrees."),
        click.option(
            "--filters", default="g,r,i", show_default=True, help="Comma-separated physical filters, cycled."
        ),
        click.option(
            "--day-obs", type=int, default=20261122, show_default=True, help="Observing day YYYYMMDD."
        ),
        click.option(
            "--transients", type=click.IntRange(min=0), default=50, show_default=True, help="Transients."
        ),
        click.option(
            "--variables", type=click.IntRange(min=0), default=30, show_default=True, help="Variable stars."
        ),
        click.option("--galaxies/--no-galaxies", default=True, show_default=True, help="Simulate galaxies."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _observatory(values: dict[str, Any], default_size: int):
    from ..simulation import SimulatedObservatory, SimulationConfig

    config = SimulationConfig(
        seed=values["seed"],
        detector_size=values["detector_size"] or default_size,
        n_visits=values["n_visits"],
        ra=values["ra"],
        dec=values["dec"],
        filters=tuple(f.strip() for f in values["filters"].split(",") if f.strip()),
        day_obs=values["day_obs"],
        n_transients=values["transients"],
        n_variables=values["variables"],
        galaxies=values["galaxies"],
    )
    return SimulatedObservatory(config)


def _one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn promptproc's own errors into click errors: one line, exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PromptprocError as err:
            raise click.ClickException(str(err).splitlines()[0]) from err

    return wrapper


_CONFIG_KEYS = ("seed", "detector_size", "n_visits", "ra", "dec", "filters", "day_obs", "transients")
_CONFIG_KEYS += ("variables", "galaxies")


def _split(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs.pop(key) for key in _CONFIG_KEYS}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def simulate() -> None:
    """Simulate SimCam observations: raws, calibrations, templates, refcat, truth.

    Every product is deterministic: the same options give the same files.
    """


@simulate.command("products")
@click.option(
    "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory."
)
@click.option("--detectors", default=None, help="Comma-separated detector IDs [default: all].")
@click.option("--no-raws", is_flag=True, help="Skip raws.")
@click.option("--no-calibs", is_flag=True, help="Skip master calibrations and defects.")
@click.option("--no-templates", is_flag=True, help="Skip templates.")
@_config_options
@_one_line_errors
def products(
    out: Path, detectors: str | None, no_raws: bool, no_calibs: bool, no_templates: bool, **kwargs: Any
) -> None:
    """Write every simulated product below OUT (layout in manifest.json)."""
    obs = _observatory(_split(kwargs), 512)
    chosen = None
    if detectors:
        try:
            chosen = [int(d) for d in detectors.split(",") if d.strip()]
        except ValueError as err:
            raise click.BadParameter(
                f"not a list of detector IDs: {detectors!r}", param_hint="--detectors"
            ) from err
    start = time.perf_counter()
    manifest = obs.write_products(
        out, detectors=chosen, raws=not no_raws, calibs=not no_calibs, templates=not no_templates
    )
    counts = ", ".join(f"{len(paths)} {kind}" for kind, paths in manifest.relative().items())
    click.echo(f"wrote {counts} below {out} in {time.perf_counter() - start:.1f} s")


@simulate.command("raw")
@click.option(
    "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Root directory."
)
@click.option(
    "--visit-index", type=click.IntRange(min=0), default=0, show_default=True, help="Visit in the plan."
)
@click.option("--detector", type=int, default=4, show_default=True, help="Detector ID.")
@_config_options
@_one_line_errors
def raw(out: Path, visit_index: int, detector: int, **kwargs: Any) -> None:
    """Write one raw and its JSON sidecar below OUT at its object-store key."""
    obs = _observatory(_split(kwargs), 512)
    visit = obs.visit(visit_index)
    start = time.perf_counter()
    fits_path, sidecar = obs.write_raw(visit, detector, out)
    click.echo(f"{fits_path}\n{sidecar}\nsimulated and written in {time.perf_counter() - start:.2f} s")


@simulate.command("preview")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("doc/images"),
    show_default=True,
    help="Directory for raw.png, calibrated.png, template.png.",
)
@click.option(
    "--visit-index", type=click.IntRange(min=0), default=0, show_default=True, help="Visit in the plan."
)
@click.option(
    "--detector", type=int, default=None, help="Detector ID [default: the one with the brightest star]."
)
@_config_options
@_one_line_errors
def preview(out: Path, visit_index: int, detector: int | None, **kwargs: Any) -> None:
    """Write PNG previews of a raw, its ISR result and the matching template."""
    from ..simulation._preview import write_previews

    obs = _observatory(_split(kwargs), 1024)
    for path in write_previews(obs, out, visit_index, detector):
        click.echo(str(path))
