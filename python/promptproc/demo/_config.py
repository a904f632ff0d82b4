"""What the demo simulates, and where it keeps things: `DemoConfig` and `DemoLayout`."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.time import Time

from ..errors import ConfigurationError
from ..simulation import SimulatedObservatory, SimulationConfig

__all__ = ["DemoConfig", "DemoLayout", "choose_field"]

BUCKET = "raws"
"""Name of the demo's raw bucket (a directory of the work directory)."""


@dataclass(frozen=True)
class DemoLayout:
    """Where the demo keeps everything, under one work directory.

    Parameters
    ----------
    root : `pathlib.Path`
        The work directory.
    """

    root: Path

    @property
    def config_file(self) -> Path:
        """The demo's own configuration (what was simulated), JSON."""
        return self.root / "demo.json"

    @property
    def central(self) -> Path:
        """The central repository (SQLite registry, files beside it)."""
        return self.root / "central"

    @property
    def apdb_database(self) -> Path:
        """The APDB's SQLite database."""
        return self.root / "apdb.sqlite3"

    @property
    def apdb_config(self) -> Path:
        """The APDB config file (``CONFIG_APDB``)."""
        return self.root / "apdb.yaml"

    @property
    def raws(self) -> Path:
        """The raw bucket."""
        return self.root / BUCKET

    @property
    def alerts(self) -> Path:
        """Where alerts are written, one Avro file per detector-visit."""
        return self.root / "alerts"

    @property
    def local_repos(self) -> Path:
        """Parent of the worker's local repository (``LOCAL_REPOS``)."""
        return self.root / "local"

    @property
    def log_file(self) -> Path:
        """The worker's JSON log."""
        return self.root / "logs" / "demo.log"

    @property
    def summary(self) -> Path:
        """The results, one record per detector-visit."""
        return self.root / "summary.json"

    def is_demo(self) -> bool:
        """Whether the directory is missing, empty, or holds a demo (safe to replace)."""
        if not self.root.exists():
            return True
        return self.config_file.is_file() or not any(self.root.iterdir())


@dataclass(frozen=True)
class DemoConfig:
    """The simulated night of a demo; kept in the work directory so a re-run replays it.

    Parameters
    ----------
    seed : `int`
        Seed of the simulation.
    size : `int`
        Detector width and height, pixels.
    visits : `int`
        Number of visits.
    detectors : `int`
        Number of detectors (the first ones of SimCam).
    filters : `tuple` [`str`, ...]
        Physical filters, cycled visit after visit.
    exposure_time : `float`
        Seconds of each exposure.
    visit_interval : `float`
        Seconds between the starts of consecutive visits.
    start_mjd : `float`
        Start of the first visit, TAI MJD.
    ra, dec : `float`
        Field centre, degrees.
    transients : `int`
        Transients in the simulated sky.
    calib_frames : `int`
        Frames combined into each master calibration.
    star_density : `float`
        Stars per square degree brighter than r = 22: a field dense enough
        that every detector has the stars its calibration needs.
    """

    seed: int
    size: int
    visits: int
    detectors: int
    filters: tuple[str, ...]
    exposure_time: float
    visit_interval: float
    start_mjd: float
    ra: float
    dec: float
    transients: int = 300
    calib_frames: int = 4
    star_density: float = 20_000.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(self.filters))
        if not 1 <= self.detectors <= 9:
            raise ConfigurationError(
                f"SimCam has 9 detectors; --detectors must be 1 to 9, not {self.detectors}"
            )
        if self.visits < 1:
            raise ConfigurationError(f"--visits must be at least 1, not {self.visits}")

    @property
    def day_obs(self) -> int:
        """Observing day of the first visit (the date at UTC-12 h)."""
        return int(Time(self.start_mjd - 0.5, format="mjd", scale="tai").strftime("%Y%m%d"))

    @property
    def detector_ids(self) -> list[int]:
        """The detectors processed."""
        return list(range(self.detectors))

    def simulation_config(self) -> SimulationConfig:
        """The simulation of this night (raws, calibrations, templates and truth all follow from it)."""
        return SimulationConfig(
            seed=self.seed,
            detector_size=self.size,
            ra=self.ra,
            dec=self.dec,
            n_visits=self.visits,
            filters=self.filters,
            day_obs=self.day_obs,
            start_mjd=self.start_mjd,
            visit_interval=self.visit_interval,
            exposure_time=self.exposure_time,
            n_transients=self.transients,
            n_calib_frames=self.calib_frames,
            star_density=self.star_density,
            n_epochs=1,
        )

    def to_json(self) -> str:
        """The configuration as JSON text."""
        return json.dumps(dataclasses.asdict(self), indent=1) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> DemoConfig:
        """Read a configuration written by `to_json`.

        Raises
        ------
        promptproc.errors.ConfigurationError
            If the file is not a demo configuration.
        """
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as err:
            raise ConfigurationError(f"{path} is not a demo configuration ({err}); use --replace") from None

    def differences(self, **wanted: Any) -> list[str]:
        """Options given explicitly that disagree with this configuration.

        Parameters
        ----------
        **wanted
            Field values; `None` means "not given".

        Returns
        -------
        problems : `list` [`str`]
            ``"--size 512 (the work directory has 1024)"`` for each.
        """
        out = []
        for name, value in wanted.items():
            if value is None:
                continue
            have = getattr(self, name)
            if (tuple(value) if isinstance(have, tuple) else value) != have:
                shown = ",".join(have) if isinstance(have, tuple) else have
                out.append(f"--{name.replace('_', '-')} (the work directory has {shown})")
        return out


def choose_field(config: SimulationConfig) -> tuple[float, float]:
    """A field that stays high in the sky during the planned visits.

    Tries the configuration's field, then fields on the site's zenith
    declination every 15 degrees of RA, and keeps the one with the lowest
    airmass.

    Parameters
    ----------
    config : `~promptproc.simulation.SimulationConfig`
        The night (times, visits).

    Returns
    -------
    ra, dec : `float`
        The field centre, degrees.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If no field can be observed then (never at night).
    """
    best: tuple[float, float, float] | None = None
    candidates = [(config.ra, config.dec)] + [(float(ra), -30.0) for ra in range(0, 360, 15)]
    for ra, dec in candidates:
        try:
            visits = SimulatedObservatory(dataclasses.replace(config, ra=ra, dec=dec, skymap=None)).visits
        except ConfigurationError:
            continue
        worst = max(visit.airmass for visit in visits)
        if worst < 1.5 and (ra, dec) == (config.ra, config.dec):
            return ra, dec
        if best is None or worst < best[0]:
            best = (worst, ra, dec)
    if best is None or not math.isfinite(best[0]):
        raise ConfigurationError("no field is observable at the planned time")
    return best[1], best[2]
