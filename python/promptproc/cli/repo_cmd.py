"""``promptproc repo``: create and bootstrap central Butler repositories."""

from __future__ import annotations

import click

__all__ = ["repo"]


@click.group()
def repo() -> None:
    """Create and fill central Butler repositories.

    A central repository holds calibrations, templates, reference catalogs
    and the sky map that workers copy before each visit, and receives their
    outputs.  It is a normal Butler repository: `butler query-datasets ROOT`
    works on it.
    """


@repo.command()
@click.argument("root")
@click.option(
    "--registry",
    default=None,
    help="Registry database: postgresql://USER@HOST:PORT/DB, sqlite:///PATH or a file path "
    "[default: SQLite inside ROOT].",
)
@click.option(
    "--namespace",
    default=None,
    help="PostgreSQL schema for the registry tables (created if absent) [default: the default schema].",
)
@click.option(
    "--datastore",
    default=None,
    help="Where files go: s3://bucket/prefix or a directory [default: ROOT].",
)
def create(root: str, registry: str | None, namespace: str | None, datastore: str | None) -> None:
    """Create an empty central repository at ROOT (a directory or s3:// URI).

    An existing repository is never overwritten.
    """
    from ..repo import create_central_repo, masked_url

    uri = create_central_repo(root, registry=registry, datastore_root=datastore, namespace=namespace)
    where = masked_url(registry) if registry else "SQLite in the root"
    click.echo(f"created repository {uri} (registry: {where})")


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


@repo.command("bootstrap-sim")
@click.argument("root")
@click.option("--instrument", default="SimCam", show_default=True, help="Instrument to simulate.")
@click.option("--seed", type=int, default=None, help="Random seed of the simulation.")
@click.option(
    "--detector-size",
    type=int,
    default=None,
    help="Detector width and height, pixels [default: 4096, full size].",
)
@click.option("--visits", "n_visits", type=int, default=None, help="Number of planned visits.")
@click.option("--ra", type=float, default=None, help="Field centre right ascension, degrees.")
@click.option("--dec", type=float, default=None, help="Field centre declination, degrees.")
@click.option(
    "--filters",
    multiple=True,
    help="Physical filters, comma-separated or repeated (e.g. --filters g,r).",
)
@click.option(
    "--calib-frames",
    "n_calib_frames",
    type=int,
    default=None,
    help="Frames combined into each simulated master calibration.",
)
@click.option(
    "--detectors",
    multiple=True,
    help="Detector IDs to make calibrations for, comma-separated [default: all].",
)
def bootstrap_sim_command(
    root: str,
    instrument: str,
    seed: int | None,
    detector_size: int | None,
    n_visits: int | None,
    ra: float | None,
    dec: float | None,
    filters: tuple[str, ...],
    n_calib_frames: int | None,
    detectors: tuple[str, ...],
) -> None:
    """Fill the repository at ROOT from the simulated observatory.

    Registers the instrument and sky map, then puts the camera, master
    calibrations of every epoch, templates, reference-catalog shards and the
    sky map, and defines the collection chains.  Running it again writes only
    what is missing.
    """
    from ..errors import ConfigurationError
    from ..repo import bootstrap_sim, simulation_config

    try:
        detector_ids = [int(d) for d in _split(detectors)] or None
    except ValueError:
        raise ConfigurationError(f"--detectors must be integers, not {','.join(detectors)!r}") from None
    config = simulation_config(
        instrument=instrument,
        seed=seed,
        detector_size=detector_size,
        n_visits=n_visits,
        ra=ra,
        dec=dec,
        filters=_split(filters) or None,
        n_calib_frames=n_calib_frames,
    )
    summary = bootstrap_sim(root, config, detectors=detector_ids)
    click.echo(summary.format())
