"""Bootstrap a central repository from the simulated observatory.

`bootstrap_sim` registers the instrument and sky map, and puts everything a
worker reads from the central repository: the camera, master calibrations of
every epoch, templates, reference-catalog shards and the sky map, plus the
collection chains.  Running it again on a bootstrapped repository writes
nothing new and says so; an interrupted run is completed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsst.daf.butler import Butler, CollectionType, DatasetRef
from lsst.resources import ResourcePathExpression

from ..errors import ConfigurationError
from ._ingest import (
    UNBOUNDED,
    certify_calibrations,
    deterministic_ref,
    ensure_collection,
    ingest_refcat,
    register_dataset_types,
    setup_collections,
)
from ._names import (
    CAMERA,
    REFCAT,
    SKYMAP,
    SKYMAPS_RUN,
    TEMPLATE,
    TEMPLATES_RUN,
    calib_run,
    defaults_collection,
)
from ._register import register_instrument, register_skymap

if TYPE_CHECKING:
    from ..simulation import SimulatedObservatory, SimulationConfig

__all__ = ["BootstrapSummary", "DatasetCount", "bootstrap_sim", "open_butler", "simulation_config"]

_LOG = logging.getLogger(__name__)


@dataclass
class DatasetCount:
    """How many datasets of one type a bootstrap wrote and found already there."""

    written: int = 0
    existing: int = 0

    @property
    def total(self) -> int:
        """Datasets of the type after the bootstrap."""
        return self.written + self.existing


@dataclass
class BootstrapSummary:
    """What `bootstrap_sim` did.

    Attributes
    ----------
    root : `str`
        Repository URI.
    instrument : `str`
        Instrument name.
    skymap : `str`
        Sky map name.
    counts : `dict` [`str`, `DatasetCount`]
        Datasets by dataset type.
    seconds : `dict` [`str`, `float`]
        Wall time of each step, in order.
    certified : `int`
        Calibrations certified by this run.
    tracts : `list` [`int`]
        Tracts registered.
    collections : `dict` [`str`, `str`]
        Collections set up, with their types.
    """

    root: str
    instrument: str = ""
    skymap: str = ""
    counts: dict[str, DatasetCount] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    certified: int = 0
    tracts: list[int] = field(default_factory=list)
    collections: dict[str, str] = field(default_factory=dict)

    @property
    def written(self) -> int:
        """Datasets written by this run."""
        return sum(c.written for c in self.counts.values())

    @property
    def already_bootstrapped(self) -> bool:
        """Whether everything was already there (nothing written, nothing certified)."""
        return bool(self.counts) and self.written == 0 and self.certified == 0

    def count(self, dataset_type: str) -> DatasetCount:
        """The counter of a dataset type (created empty)."""
        return self.counts.setdefault(dataset_type, DatasetCount())

    def format(self) -> str:
        """A human-readable report, several lines."""
        lines = [f"repository {self.root}: instrument {self.instrument}, sky map {self.skymap}"]
        if self.already_bootstrapped:
            lines.append("already bootstrapped: every dataset was there, nothing written")
        lines.append(f"{'dataset type':<16} {'written':>8} {'existing':>9}")
        for name, count in self.counts.items():
            lines.append(f"{name:<16} {count.written:>8} {count.existing:>9}")
        lines.append(f"calibrations certified: {self.certified}; tracts: {self.tracts}")
        lines.append("step seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items()))
        lines.append(f"total {sum(self.seconds.values()):.2f} s")
        return "\n".join(lines)


def open_butler(butler_or_root: Butler | ResourcePathExpression, writeable: bool = True) -> Butler:
    """Return a Butler, opening the repository at a root if given one.

    Parameters
    ----------
    butler_or_root : `lsst.daf.butler.Butler` or `str`
        A Butler (returned as is) or a repository root / ``butler.yaml`` URI.
    writeable : `bool`, optional
        Open for writing.

    Returns
    -------
    butler : `lsst.daf.butler.Butler`
        The Butler.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If there is no repository at the root.
    """
    if isinstance(butler_or_root, Butler):
        return butler_or_root
    try:
        return Butler.from_config(butler_or_root, writeable=writeable)
    except FileNotFoundError as err:
        raise ConfigurationError(f"no Butler repository at {butler_or_root}: {err}") from None


def simulation_config(instrument: str = "SimCam", **options: Any) -> SimulationConfig:
    """Build a simulation configuration from command-line style options.

    Parameters
    ----------
    instrument : `str`, optional
        Instrument to simulate; only SimCam can be simulated.
    **options
        `~promptproc.simulation.SimulationConfig` fields; `None` values keep
        the field's default and a list of ``filters`` becomes a tuple.

    Returns
    -------
    config : `promptproc.simulation.SimulationConfig`
        The configuration.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the instrument is unknown or cannot be simulated, or an option is
        invalid.
    """
    from ..instrument import SIMCAM_NAME, get_instrument
    from ..simulation import SimulationConfig

    get_instrument(instrument)  # an unknown name raises ConfigurationError
    if instrument != SIMCAM_NAME:
        raise ConfigurationError(f"only {SIMCAM_NAME} can be simulated, not {instrument}")
    values = {key: value for key, value in options.items() if value is not None}
    if "filters" in values:
        values["filters"] = tuple(values["filters"])
    try:
        return SimulationConfig(**values)
    except TypeError as err:
        raise ConfigurationError(f"invalid simulation option: {err}") from None


@contextmanager
def _step(summary: BootstrapSummary, name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        summary.seconds[name] = summary.seconds.get(name, 0.0) + time.perf_counter() - start
        _LOG.info("bootstrap step %s: %.2f s", name, summary.seconds[name])


def _put_unless_there(
    butler: Butler,
    summary: BootstrapSummary,
    name: str,
    data_id: dict[str, Any],
    run: str,
    make: Callable[[], Any],
) -> DatasetRef:
    """Put ``make()`` unless the dataset is there; only simulate what is missing."""
    ref = deterministic_ref(butler, name, data_id, run)
    if butler.registry.getDataset(ref.id) is not None:
        summary.count(name).existing += 1
        return ref
    ensure_collection(butler, run, CollectionType.RUN)
    ref = butler.put(make(), ref)
    summary.count(name).written += 1
    return ref


def _bands(observatory: SimulatedObservatory) -> list[str]:
    return sorted({visit.band for visit in observatory.visits})


def _filters(observatory: SimulatedObservatory) -> list[str]:
    return sorted({visit.physical_filter for visit in observatory.visits})


def bootstrap_sim(
    butler_or_root: Butler | ResourcePathExpression,
    config: SimulationConfig,
    detectors: Sequence[int] | None = None,
) -> BootstrapSummary:
    """Fill a central repository with everything the simulated survey needs.

    Parameters
    ----------
    butler_or_root : `lsst.daf.butler.Butler` or `str`
        A writeable Butler, or the root of a repository made by
        `create_central_repo`.
    config : `promptproc.simulation.SimulationConfig`
        The simulation (instrument size, pointing, visits, filters, epochs).
    detectors : `~collections.abc.Sequence` [`int`], optional
        Detectors to make calibrations for; all of the instrument's by
        default.

    Returns
    -------
    summary : `BootstrapSummary`
        Counts per dataset type and seconds per step.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the repository is missing, or holds an instrument, sky map,
        dataset type or calibration that conflicts with this simulation.
    """
    from ..simulation import SimulatedObservatory

    summary = BootstrapSummary(root="")
    with _step(summary, "open"):
        butler = open_butler(butler_or_root)
        summary.root = str(butler_or_root if not isinstance(butler_or_root, Butler) else butler)
    with _step(summary, "simulate"):
        observatory = SimulatedObservatory(config)
        instrument = observatory.instrument
        skymap = observatory.skymap
        summary.instrument, summary.skymap = instrument.name, skymap.name
        patches = list(observatory.template_patches())
    detector_ids = [d.id for d in instrument.detectors] if detectors is None else list(detectors)
    for det in detector_ids:
        instrument.detector(det)  # raises BadInputError for an unknown detector
    filters = _filters(observatory)
    bands = _bands(observatory)

    with _step(summary, "register"):
        register_instrument(butler, instrument)
        tracts = {patch.tract for patch in patches}
        tracts.update(skymap.find_tract(visit.ra, visit.dec) for visit in observatory.visits)
        summary.tracts = sorted(tracts)
        register_skymap(butler, skymap, summary.tracts)
        register_dataset_types(butler)
        summary.collections = setup_collections(butler, instrument.name)

    with _step(summary, "camera"):
        ref = _put_unless_there(
            butler,
            summary,
            CAMERA,
            {"instrument": instrument.name},
            calib_run(instrument.name, UNBOUNDED.name),
            lambda: instrument,
        )
        summary.certified += certify_calibrations(butler, instrument.name, [ref], UNBOUNDED)
    with _step(summary, "skymap"):
        _put_unless_there(butler, summary, SKYMAP, {"skymap": skymap.name}, SKYMAPS_RUN, lambda: skymap)

    with _step(summary, "calibs"):
        for epoch in observatory.calibration_epochs:
            run = calib_run(instrument.name, epoch.name)
            refs: list[DatasetRef] = []
            for det in detector_ids:
                base = {"instrument": instrument.name, "detector": det}
                refs.append(
                    _put_unless_there(
                        butler,
                        summary,
                        "bias",
                        base,
                        run,
                        lambda d=det, e=epoch: observatory.master_bias(d, e),
                    )
                )
                refs.append(
                    _put_unless_there(
                        butler,
                        summary,
                        "dark",
                        base,
                        run,
                        lambda d=det, e=epoch: observatory.master_dark(d, e),
                    )
                )
                refs.append(
                    _put_unless_there(
                        butler,
                        summary,
                        "defects",
                        base,
                        run,
                        lambda d=det, e=epoch: observatory.defects(d, e),
                    )
                )
                for physical_filter in filters:
                    refs.append(
                        _put_unless_there(
                            butler,
                            summary,
                            "flat",
                            {**base, "physical_filter": physical_filter},
                            run,
                            lambda d=det, f=physical_filter, e=epoch: observatory.master_flat(d, f, e),
                        )
                    )
            summary.certified += certify_calibrations(butler, instrument.name, refs, epoch)

    with _step(summary, "templates"):
        for patch in patches:
            for band in bands:
                data_id = {"skymap": skymap.name, "tract": patch.tract, "patch": patch.id, "band": band}
                _put_unless_there(
                    butler,
                    summary,
                    TEMPLATE,
                    data_id,
                    TEMPLATES_RUN,
                    lambda p=patch, b=band: observatory.template(p, b),
                )

    with _step(summary, "refcat"):
        refs, written = ingest_refcat(butler, observatory.reference_catalog())
        summary.count(REFCAT).written += written
        summary.count(REFCAT).existing += len(refs) - written

    _LOG.info(
        "bootstrapped %s: %d datasets written, chain %s",
        summary.root,
        summary.written,
        defaults_collection(instrument.name),
    )
    return summary
