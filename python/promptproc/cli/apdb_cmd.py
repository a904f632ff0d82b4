"""``promptproc apdb``: create and inspect the Alert Production Database."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["apdb"]


@click.group()
def apdb() -> None:
    """Create and inspect the Alert Production Database (APDB).

    The APDB has the official schema of lsst-dax-apdb, on SQLite (embedded
    default) or PostgreSQL (deployment).
    """


@apdb.command()
@click.argument("url")
@click.option(
    "--config-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the APDB config YAML that workers read; it must not exist yet.",
)
@click.option(
    "--namespace",
    default=None,
    help="PostgreSQL schema for the APDB tables (created if absent); the default schema if omitted.",
)
def create(url: str, config_file: Path, namespace: str | None) -> None:
    """Create an empty APDB at URL and write its config file.

    URL is a file path or sqlite:///PATH for SQLite, or postgresql://... or
    postgresql+psycopg2://... for PostgreSQL (postgresql:// is stored as
    postgresql+psycopg2://).  An existing APDB is never dropped or changed.
    """
    from ..apdb import create_apdb

    path = create_apdb(url, config_file, namespace=namespace)
    click.echo(f"created APDB; config written to {path}")


@apdb.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--counts/--no-counts",
    default=False,
    show_default=True,
    help="Also count the rows of DiaObject, DiaSource and DiaForcedSource (slow on a large database).",
)
def info(config: Path, counts: bool) -> None:
    """Print the versions and tables of the APDB that CONFIG describes (read-only)."""
    from ..apdb import describe_apdb

    for line in describe_apdb(config, count_rows=counts).lines():
        click.echo(line)
