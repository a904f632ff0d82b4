"""Building the embedded default in a work directory: central repository, APDB, worker settings."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from astropy.time import Time

from ..errors import ConfigurationError
from ..settings import Settings, load_settings
from ..simulation import SimulationConfig
from ._config import BUCKET, DemoConfig, DemoLayout, choose_field

__all__ = [
    "DEFAULTS",
    "EXPORTED_TYPES",
    "DemoOptions",
    "DemoSetup",
    "new_night",
    "prepare_workdir",
    "star_density_for",
    "worker_settings",
]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for; `None` means the default (or, when reusing, what the work directory has).

    Parameters
    ----------
    workdir : `pathlib.Path`
        The work directory.
    replace : `bool`
        Start from an empty work directory (`False`: reuse what is there).
    visits, detectors, size, seed : `int`, optional
        Night to simulate.
    filters : `tuple` [`str`, ...], optional
        Physical filters.
    exposure_time, visit_interval : `float`, optional
        Seconds per exposure and between visit starts.
    lead_time : `float`
        Seconds between now and the first exposure of a new night.
    workers : `int`
        Workers processing detector-visits side by side (threads).
    """

    workdir: Path
    replace: bool = False
    visits: int | None = None
    detectors: int | None = None
    size: int | None = None
    seed: int | None = None
    filters: tuple[str, ...] | None = None
    exposure_time: float | None = None
    visit_interval: float | None = None
    lead_time: float = 15.0
    workers: int = 1


DEFAULTS = {
    "visits": 3,
    "detectors": 9,
    "size": 512,
    "seed": 7,
    "filters": ("r",),
    "exposure_time": 15.0,
    "visit_interval": 30.0,
}
"""Defaults of a new demo night: the whole demo takes 3 to 4 minutes on 2 cores."""

EXPORTED_TYPES = (
    "visit_image",
    "visit_sources",
    "visit_summary",
    "difference_image",
    "dia_sources",
    "dia_source_apdb",
    "dia_object_apdb",
    "alert_packets",
)
"""Dataset types the demo exports to the central repository (``EXPORT_TYPE_REGEXP``): the
science products, not the task configs, metadata and logs."""


@dataclass
class DemoSetup:
    """A prepared work directory.

    Attributes
    ----------
    layout : `DemoLayout`
        Where everything is.
    config : `DemoConfig`
        The night.
    reused : `bool`
        Whether an earlier demo's work directory is being reused (a replay).
    seconds : `dict` [`str`, `float`]
        Seconds of each set-up step.
    """

    layout: DemoLayout
    config: DemoConfig
    reused: bool
    seconds: dict[str, float] = field(default_factory=dict)


def new_night(options: DemoOptions) -> DemoConfig:
    """A new night starting ``options.lead_time`` seconds from now, on a field high in the sky then.

    Parameters
    ----------
    options : `DemoOptions`
        Size of the night; unset options take `DEFAULTS`.

    Returns
    -------
    config : `DemoConfig`
        The night.
    """
    values = {name: getattr(options, name) for name in DEFAULTS}
    values = {name: DEFAULTS[name] if value is None else value for name, value in values.items()}
    now = Time.now().tai.mjd
    start = round((now + options.lead_time / 86400.0) * 86400.0) / 86400.0
    day_obs = int(Time(start - 0.5, format="mjd", scale="tai").strftime("%Y%m%d"))
    base = SimulationConfig(
        detector_size=values["size"],
        n_visits=values["visits"],
        filters=tuple(values["filters"]),
        day_obs=day_obs,
        start_mjd=start,
        visit_interval=values["visit_interval"],
        exposure_time=values["exposure_time"],
        seed=values["seed"],
    )
    ra, dec = choose_field(base)
    return DemoConfig(
        seed=values["seed"],
        size=values["size"],
        visits=values["visits"],
        detectors=values["detectors"],
        filters=tuple(values["filters"]),
        exposure_time=values["exposure_time"],
        visit_interval=values["visit_interval"],
        start_mjd=start,
        ra=ra,
        dec=dec,
        star_density=star_density_for(values["size"]),
    )


def star_density_for(size: int) -> float:
    """Stars per square degree (r < 22) that give a detector of ``size`` pixels enough calibration stars.

    About 60 stars brighter than r = 22 per detector: 20000 per square degree
    for 1024-pixel detectors (0.2"/pixel), more for smaller ones.
    """
    return 20_000.0 * max(1.0, (1024.0 / size) ** 2)


def prepare_workdir(options: DemoOptions) -> DemoSetup:
    """Make (or reuse) the work directory with a bootstrapped central repository and an APDB.

    Parameters
    ----------
    options : `DemoOptions`
        What the user asked for.

    Returns
    -------
    setup : `DemoSetup`
        The layout and the night; reusing keeps the earlier night so that a
        re-run replays its visits.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the directory is not a demo's and not empty (it is never
        deleted), or reusing with options that disagree with it.
    """
    layout = DemoLayout(options.workdir.absolute())
    if not layout.is_demo():
        raise ConfigurationError(
            f"{layout.root} exists and is not a demo work directory; choose another --workdir"
        )
    reused = False
    if options.replace and layout.root.exists():
        shutil.rmtree(layout.root)
    if layout.config_file.is_file():
        config = DemoConfig.from_file(layout.config_file)
        wanted = {name: getattr(options, name) for name in DEFAULTS}
        problems = config.differences(**wanted)
        if problems:
            raise ConfigurationError(
                f"{layout.root} holds a demo made with other options: {'; '.join(problems)}; "
                "add --replace to start over with the new ones"
            )
        reused = True
    else:
        config = new_night(options)
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.config_file.write_text(config.to_json())
    setup = DemoSetup(layout, config, reused)
    _build_central(setup)
    _build_apdb(setup)
    return setup


def _build_central(setup: DemoSetup) -> None:
    from ..repo import bootstrap_sim, create_central_repo

    start = time.perf_counter()
    layout = setup.layout
    if not (layout.central / "butler.yaml").is_file():
        shutil.rmtree(layout.central, ignore_errors=True)  # an interrupted creation
        create_central_repo(layout.central)
    summary = bootstrap_sim(
        str(layout.central), setup.config.simulation_config(), detectors=setup.config.detector_ids
    )
    _LOG.info("Central repository ready:\n%s", summary.format())
    setup.seconds["central repository"] = time.perf_counter() - start


def _build_apdb(setup: DemoSetup) -> None:
    from ..apdb import create_apdb

    start = time.perf_counter()
    layout = setup.layout
    if not layout.apdb_config.is_file():
        layout.apdb_database.unlink(missing_ok=True)
        create_apdb(f"sqlite:///{layout.apdb_database}", layout.apdb_config)
    setup.seconds["APDB"] = time.perf_counter() - start


def _pipelines_yaml(base: Path, names: list[str]) -> str:
    paths = []
    for name in names:
        path = base / "pipelines" / "SimCam" / f"{name}.yaml"
        if not path.is_file():
            raise ConfigurationError(
                f"pipeline {path} not found; run the demo from a promptproc checkout "
                "or set PROMPT_PROCESSING_DIR"
            )
        paths.append(str(path))
    return yaml.safe_dump([{"pipelines": paths}])


def worker_settings(
    layout: DemoLayout, pipelines_dir: Path | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """The settings of the demo's worker: everything in the work directory.

    Parameters
    ----------
    layout : `DemoLayout`
        The work directory.
    pipelines_dir : `pathlib.Path`, optional
        Directory holding ``pipelines/SimCam``; promptproc's checkout by default.
    overrides : `~collections.abc.Mapping` [`str`, `str`], optional
        Other environment variables, e.g. ``{"EXPORT_TYPE_REGEXP": "- .*"}``.

    Returns
    -------
    settings : `~promptproc.settings.Settings`
        ``PLATFORM=local`` with the central repository, APDB, raw bucket and
        alert directory of the work directory.
    """
    base = load_settings({}).prompt_processing_dir if pipelines_dir is None else pipelines_dir
    assert base is not None
    environ = {
        "RUBIN_INSTRUMENT": "SimCam",
        "PLATFORM": "local",
        "SKYMAP": "sim_rings",
        "PROMPT_PROCESSING_DIR": str(base),
        "MAIN_PIPELINES_CONFIG": _pipelines_yaml(base, ["ApPipe", "SingleFrame"]),
        "PREPROCESSING_PIPELINES_CONFIG": _pipelines_yaml(base, ["Preprocessing"]),
        "CENTRAL_REPO": str(layout.central),
        "CONFIG_APDB": str(layout.apdb_config),
        "IMAGE_BUCKET": BUCKET,
        "LOCAL_REPOS": str(layout.local_repos),
        "ALERT_DIRECTORY": str(layout.alerts),
        "IMAGE_TIMEOUT": "20",
        "EXPORT_TYPE_REGEXP": yaml.safe_dump(list(EXPORTED_TYPES)),
        "LOG_FORMAT": "json",
        **(overrides or {}),
    }
    return load_settings(environ)
