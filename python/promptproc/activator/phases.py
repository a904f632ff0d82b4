"""The six phases of a detector-visit, each one function of a shared `VisitState`.

`process_visit` calls them in order: `select_pipelines` (before anything
else), `prepare`, `wait`, `ingest`, `run`, `export`, and always `clean`.
Each phase reads what the earlier ones left in the state and adds its own;
none of them catches errors (`process_visit` classifies them), except where
a failure is part of the design (a failed preprocessing pipeline leaves the
main pipelines to decide whether they can run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.time import Time, TimeDelta

from ..errors import BadInputError, ServiceUnavailableError
from ..pipelines_config import NoMatchingPipelinesError
from ..visit import FannedOutVisit, UnsupportedCoordinatesError
from .errors import IgnorableVisit, Interrupted, NonRetriableError, NoRawsError
from .raws import ArrivedRaw
from .result import VisitResult
from .worker import Worker

if TYPE_CHECKING:
    from lsst.daf.butler import DatasetRef

    from ..pipetasks import PipelineRunResult
    from ..repo import PreloadResult

__all__ = [
    "VisitState",
    "clean",
    "export",
    "ingest",
    "make_check",
    "pipeline_name",
    "prepare",
    "run",
    "select_pipelines",
    "wait",
]

_LOG = logging.getLogger(__name__)

PREPARATION = "NoPipeline"
"""Pipeline name of the local run holding what the worker writes before any pipeline (``region_time``)."""


def pipeline_name(pipeline: Path | str) -> str:
    """Name of a pipeline file, as in run names: the base name without ``.yaml``."""
    return Path(pipeline).name.removesuffix(".yaml")


@dataclass
class VisitState:
    """What the phases of one detector-visit know and leave for the next.

    Attributes
    ----------
    visit : `~promptproc.visit.FannedOutVisit`
        The event.
    worker : `Worker`
        The worker.
    check : callable
        Cooperative check; raises `Interrupted` when the visit must stop.
    result : `VisitResult`
        Filled in as the phases go.
    main_pipelines : `tuple` [`pathlib.Path`, ...]
        Main pipelines selected for the visit, in priority order.
    preprocessing : `tuple` [`pathlib.Path`, ...]
        Preprocessing pipelines selected for the visit.
    runnable : `list` [`pathlib.Path`]
        Main pipelines whose inputs exist after `prepare`, in priority order.
    preprocessed : `list` [`str`]
        Local output runs of the preprocessing pipelines that succeeded.
    prepared_runs : `list` [`str`]
        Local runs of what the worker wrote itself (``region_time``).
    preload : `~promptproc.repo.PreloadResult` or `None`
        What `prepare` preloaded.
    raws : `list` [`ArrivedRaw`]
        Raws found by `wait`.
    raw_refs : `list` [`lsst.daf.butler.DatasetRef`]
        Raws ingested by `ingest`.
    pipeline : `pathlib.Path` or `None`
        The pipeline that ran.
    output_run : `str` or `None`
        Its output run (the same name locally and centrally).
    external_writes_done : `bool`
        Whether a write a retry could not redo correctly happened (the APDB
        rows were stored, so a retry would not send the alerts).
    """

    visit: FannedOutVisit
    worker: Worker
    check: Callable[[], None]
    result: VisitResult
    main_pipelines: tuple[Path, ...] = ()
    preprocessing: tuple[Path, ...] = ()
    runnable: list[Path] = field(default_factory=list)
    preprocessed: list[str] = field(default_factory=list)
    prepared_runs: list[str] = field(default_factory=list)
    preload: PreloadResult | None = None
    raws: list[ArrivedRaw] = field(default_factory=list)
    raw_refs: list[DatasetRef] = field(default_factory=list)
    pipeline: Path | None = None
    output_run: str | None = None
    external_writes_done: bool = False

    def run_name(self, pipeline: Path | str) -> str:
        """Output run of a pipeline for this visit (`~promptproc.repo.output_run_name`)."""
        from ..repo import output_run_name

        deployment = str(self.worker.settings.deployment_name)
        return output_run_name(self.visit.instrument, self.visit.day_obs, pipeline_name(pipeline), deployment)

    @property
    def data_id(self) -> dict[str, Any]:
        """Instrument, group and detector of the visit."""
        return {
            "instrument": self.visit.instrument,
            "group": self.visit.groupId,
            "detector": self.visit.detector,
        }


def make_check(worker: Worker, started: float, clock: Callable[[], float] = time.time) -> Callable[[], None]:
    """The cooperative check of a visit: stop on a shutdown request or after ``WORKER_TIMEOUT``.

    Parameters
    ----------
    worker : `Worker`
        Its `Worker.stopping` flag is read.
    started : `float`
        When the visit was received, in ``clock`` seconds.
    clock : callable, optional
        Seconds now.

    Returns
    -------
    check : callable
        Raises `Interrupted` when the visit must stop; returns `None` otherwise.
    """
    budget = float(worker.settings.worker_timeout)

    def check() -> None:
        if worker.stopping:
            raise Interrupted("the worker is shutting down")
        elapsed = clock() - started
        if elapsed > budget:
            raise Interrupted(f"the visit took {elapsed:.0f} s, more than WORKER_TIMEOUT ({budget:g} s)")

    return check


# --- selection ---------------------------------------------------------------------------------


def _pointing(state: VisitState) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Boresight and detector centre (RA, Dec degrees), when the visit is on the sky."""
    visit = state.visit
    try:
        boresight = visit.boresight_icrs()
    except UnsupportedCoordinatesError:
        return None, None
    try:
        wcs = visit.predicted_wcs(state.worker.camera)
        detector = state.worker.camera.detector(visit.detector)
        ra, dec = wcs.pixel_to_world_values((detector.width - 1) / 2.0, (detector.height - 1) / 2.0)
        return boresight, (float(ra), float(dec))
    except (UnsupportedCoordinatesError, BadInputError):
        return boresight, None


def select_pipelines(state: VisitState) -> None:
    """Choose the main and preprocessing pipelines of the visit from the configuration.

    Raises
    ------
    IgnorableVisit
        If no node of ``MAIN_PIPELINES_CONFIG`` matches, or the matching node
        lists no pipeline.
    """
    visit, worker = state.visit, state.worker
    boresight, center = _pointing(state)
    try:
        state.main_pipelines = worker.main_pipelines.select(
            visit.survey, boresight=boresight, detector_center=center
        )
    except NoMatchingPipelinesError as err:
        raise IgnorableVisit(f"no pipeline is configured for this visit: {err}") from None
    if not state.main_pipelines:
        raise IgnorableVisit(f"the pipelines configured for survey {visit.survey!r} are none: nothing to run")
    try:
        state.preprocessing = worker.preprocessing_pipelines.select(
            visit.survey, boresight=boresight, detector_center=center
        )
    except NoMatchingPipelinesError:
        state.preprocessing = ()
    _LOG.info(
        "Pipelines for survey %r: %s (preprocessing: %s)",
        visit.survey,
        ", ".join(pipeline_name(p) for p in state.main_pipelines),
        ", ".join(pipeline_name(p) for p in state.preprocessing) or "none",
    )


# --- prepare -----------------------------------------------------------------------------------


def _write_region_time(state: VisitState) -> bool:
    """Write the visit's predicted region and time into the local preparation run."""
    from ..pipetasks import REGION_TIME, RegionTime, register_pipeline_dataset_types

    visit, worker = state.visit, state.worker
    try:
        region_time = RegionTime.for_visit(visit, worker.camera, worker.settings.preload_padding)
    except UnsupportedCoordinatesError as err:
        _LOG.warning("No region for the visit (%s): no APDB preload", err)
        return False
    butler = worker.local_repo.butler
    register_pipeline_dataset_types(butler, [REGION_TIME])
    butler.registry.syncDimensionData("group", {"instrument": visit.instrument, "name": visit.groupId})
    butler.collections.register(state.run_name(PREPARATION))
    butler.put(region_time, REGION_TIME, state.data_id, run=state.run_name(PREPARATION))
    state.prepared_runs = [state.run_name(PREPARATION)]
    return True


def _available_types(state: VisitState, preprocessed: list[str]) -> set[str]:
    """Dataset types a main pipeline can find for this visit once its raw is ingested."""
    from lsst.daf.butler.registry import MissingCollectionError

    from ..repo import CAMERA, RAW

    preload = state.preload
    assert preload is not None
    options = state.worker.local_repo.options
    available = {RAW, CAMERA, *preload.calibs}
    if preload.skymap is not None:
        available.add(options.skymap_type)
    if preload.templates:
        available.add(options.template_type)
    if preload.refcat_shards:
        available.add(options.refcat_type)
    butler = state.worker.local_repo.butler
    for run_name in [*state.prepared_runs, *preprocessed]:
        try:
            info = butler.collections.get_info(run_name, include_summary=True)
        except MissingCollectionError:
            continue
        available.update(info.dataset_types or ())
    return available


def _preprocess(state: VisitState) -> list[str]:
    """Run the preprocessing pipelines; their failure is logged and the main pipelines decide.

    A preprocessing pipeline that fails because a service is unavailable (the
    APDB) fails the visit as retriable instead: the main pipelines would
    otherwise run without the preloaded DIA objects.
    """
    from ..pipetasks import PipelineGraphError

    done = []
    for pipeline in state.preprocessing:
        state.check()
        run_name = state.run_name(pipeline)
        try:
            outcome = _execute(state, pipeline, run_name, inputs=state.prepared_runs, group=True)
        except PipelineGraphError as err:
            _LOG.warning("Preprocessing %s cannot run (%s); trying the main pipelines anyway", pipeline, err)
            continue
        if not outcome.ok:
            _raise_unavailable(outcome)
            _LOG.warning(
                "Preprocessing %s failed; trying the main pipelines anyway:\n%s",
                pipeline_name(pipeline),
                outcome.summary(),
            )
            continue
        done.append(run_name)
    return done


def prepare(state: VisitState) -> None:
    """Preload the visit's inputs, write its region and time, run preprocessing, find runnable pipelines.

    Raises
    ------
    promptproc.repo.MissingCalibrationError
        If a calibration is missing centrally (not retriable).
    NonRetriableError
        If none of the selected main pipelines can find its inputs.
    """
    worker = state.worker
    state.preload = worker.local_repo.prepare(state.visit)
    state.check()
    state.preprocessed = _preprocess(state) if state.preprocessing and _write_region_time(state) else []
    available = _available_types(state, state.preprocessed)
    missing: dict[str, list[str]] = {}
    for pipeline in state.main_pipelines:
        lacking = sorted(worker.pipeline_inputs(pipeline) - available)
        if lacking:
            missing[pipeline_name(pipeline)] = lacking
        else:
            state.runnable.append(pipeline)
    for name, lacking in missing.items():
        _LOG.info("Pipeline %s cannot run for this visit: no %s", name, ", ".join(lacking))
    if not state.runnable:
        reasons = "; ".join(f"{name} lacks {', '.join(lacking)}" for name, lacking in missing.items())
        raise NonRetriableError(f"no configured pipeline can run for this visit: {reasons}")


# --- wait and ingest ---------------------------------------------------------------------------


def wait(state: VisitState) -> None:
    """Wait for the visit's raws until its deadline (``startTime + duration + IMAGE_TIMEOUT``).

    Raises
    ------
    NoRawsError
        If no raw arrived by the deadline (nothing was written).
    Interrupted
        If the worker is stopping or the visit ran out of time.
    """
    visit, worker = state.visit, state.worker
    deadline = visit.deadline(worker.settings.image_timeout)
    with worker.notifications_for(visit) as watcher:
        state.raws = watcher.wait(visit, deadline, check=state.check)
    if not state.raws:
        raise NoRawsError(
            f"no raw of group {visit.groupId} detector {visit.detector} arrived before the deadline "
            f"{Time(deadline, format='unix').isot} UTC"
        )


def ingest(state: VisitState) -> None:
    """Download each raw, check its header against the visit and ingest it into the local repository.

    A raw that does not belong to the visit is logged and skipped; if none
    is left, its error is raised.

    Raises
    ------
    promptproc.repo.RawMismatchError
        If every raw's header disagrees with the visit (nothing ingested).
    promptproc.errors.BadInputError
        If every raw is unreadable.
    """
    worker = state.worker
    errors: list[BadInputError] = []
    for raw in state.raws:
        state.check()
        target = worker.holding / Path(raw.key).name
        try:
            worker.raw_store.download(raw.key, target)
            ref = worker.local_repo.ingest_raw(target, state.visit, transfer="move")
        except BadInputError as err:
            _LOG.error("Raw %s cannot be processed: %s", raw.key, err)
            errors.append(err)
            continue
        finally:
            target.unlink(missing_ok=True)
        state.raw_refs.append(ref)
        state.result.exposures.append(int(ref.dataId["exposure"]))
    if not state.raw_refs:
        raise errors[0]
    state.result.visit = state.result.exposures[0]


# --- run ---------------------------------------------------------------------------------------


def _execute(
    state: VisitState, pipeline: Path, output_run: str, *, inputs: list[str], group: bool = False
) -> PipelineRunResult:
    """Run one pipeline on the visit's data in the local repository.

    Main pipelines (``group`` false) run on the ingested exposures and must
    have a quantum for every task, so that a pipeline missing an input (no
    template) raises `~promptproc.pipetasks.PipelineGraphError` and the next
    one is tried; preprocessing runs on the group, before any raw.
    """
    from ..pipetasks import run_pipeline

    visit, worker = state.visit, state.worker
    data_id: dict[str, Any] = {"instrument": visit.instrument, "detector": visit.detector}
    if group:
        data_id["group"] = visit.groupId
    else:
        data_id["exposure"] = list(state.result.exposures)
    butler = worker.local_repo.butler
    try:
        return run_pipeline(
            butler,
            pipeline,
            inputs=[*inputs, worker.local_repo.defaults_collection],
            output_run=output_run,
            data_id=data_id,
            parameters={"apdb_config": str(worker.settings.config_apdb)},
            require_all_tasks=not group,
        )
    finally:
        # The executor writes through a clone of the Butler: refresh this one's caches (dataset
        # types, collection summaries) or it cannot see, export or remove what was written.
        butler.registry.refresh()


def _raise_unavailable(outcome: PipelineRunResult) -> None:
    """Re-raise the error of a quantum that failed because a service was unavailable (retriable)."""
    for quantum in outcome.failed:
        if isinstance(quantum.error, ServiceUnavailableError):
            raise quantum.error


def run(state: VisitState) -> None:
    """Run the first runnable main pipeline whose quantum graph can be built, on the ingested raws.

    Raises
    ------
    NonRetriableError
        If no pipeline's graph could be built, or a task failed on the
        data (retrying would fail the same way).
    promptproc.errors.ServiceUnavailableError
        If a task failed because a service was unavailable (retriable).
    """
    from ..pipetasks import PipelineGraphError

    reasons = []
    for pipeline in state.runnable:
        state.check()
        output_run = state.run_name(pipeline)
        _LOG.info("Running %s into %s", pipeline_name(pipeline), output_run)
        try:
            outcome = _execute(
                state, pipeline, output_run, inputs=[*state.preprocessed, *state.prepared_runs]
            )
        except PipelineGraphError as err:
            _LOG.info("Pipeline %s cannot run: %s", pipeline_name(pipeline), err)
            reasons.append(str(err))
            continue
        state.pipeline, state.output_run = pipeline, output_run
        state.result.pipeline = pipeline_name(pipeline)
        if not outcome.ok:
            _raise_unavailable(outcome)
            failed = outcome.failed[0] if outcome.failed else None
            what = f"task {failed.label} failed: {failed.message}" if failed else "quanta were blocked"
            raise NonRetriableError(f"{pipeline_name(pipeline)}: {what}")
        return
    raise NonRetriableError(f"no pipeline could run: {'; '.join(reasons)}")


# --- export ------------------------------------------------------------------------------------


def _visit_time(state: VisitState) -> Time:
    """Mid-exposure time of the visit (TAI), from its dimension record."""
    butler = state.worker.local_repo.butler
    records = butler.query_dimension_records(
        "visit", instrument=state.visit.instrument, visit=state.result.visit, explain=False, limit=1
    )
    if records and records[0].timespan is not None:
        record = records[0]
        return record.timespan.begin.tai + TimeDelta(0.5 * float(record.exposure_time or 0.0), format="sec")
    return Time(state.visit.startTime, format="unix_tai") + TimeDelta(
        0.5 * state.visit.duration, format="sec"
    )


def _output(state: VisitState, name: str) -> Any | None:
    """Read one output of the visit from the local output run, or `None` if it was not written."""
    from lsst.daf.butler import MissingDatasetTypeError

    butler = state.worker.local_repo.butler
    try:
        refs = butler.query_datasets(name, collections=state.output_run, explain=False, limit=None)
    except MissingDatasetTypeError:
        return None
    refs = [ref for ref in refs if ref.dataId.get("detector") == state.visit.detector]
    return butler.get(refs[0]) if refs else None


def _export_central(state: VisitState) -> None:
    worker, result = state.worker, state.result
    if not worker.settings.debug_export_outputs:
        _LOG.info("DEBUG_EXPORT_OUTPUTS is false: outputs stay in the local repository")
        return
    assert state.output_run is not None
    exported = worker.local_repo.export_outputs(
        state.output_run, worker.central, worker.settings.export_type_patterns, central_run=state.output_run
    )
    result.exported = exported.n_exported
    result.already_exported = exported.n_skipped
    result.output_run = state.output_run


def _export_apdb_and_alerts(state: VisitState) -> None:
    from ..apdb import store_visit
    from ..pipetasks import ALERT_PACKETS, DIA_OBJECT_APDB, DIA_SOURCE_APDB

    worker, result = state.worker, state.result
    sources = _output(state, DIA_SOURCE_APDB)
    if sources is None:
        _LOG.info("Pipeline %s made no DIA rows: nothing for the APDB or the alert stream", result.pipeline)
        return
    objects = _output(state, DIA_OBJECT_APDB)
    if objects is None:
        raise NonRetriableError(f"{result.pipeline} wrote {DIA_SOURCE_APDB} but no {DIA_OBJECT_APDB}")
    result.dia_sources = len(sources)
    if len(sources) and "diaSourceId" in sources.columns and "diaObjectId" in objects.columns:
        result.new_dia_objects = len(set(objects["diaObjectId"]) & set(sources["diaSourceId"]))
    stored = store_visit(
        worker.apdb,
        _visit_time(state),
        objects,
        sources,
        visit=result.visit,
        detector=state.visit.detector,
    )
    result.apdb = stored.status
    if not stored.stored:
        if stored.already_stored:
            result.new_dia_objects = 0
            _LOG.info("The APDB already holds this detector-visit: its alerts were sent then")
        return
    state.external_writes_done = True
    packets = _output(state, ALERT_PACKETS)
    alerts = list(packets.alerts) if packets is not None else []
    if alerts:
        result.alerts = _send_alerts(state, alerts)


def _send_alerts(state: VisitState, alerts: list[dict[str, Any]]) -> int:
    """Send the alerts; if the sink fails, keep them in files for a replay and fail the visit.

    The APDB already holds the visit's rows, so a redelivered visit would not
    send these alerts again: the failure is not retriable, and the packets
    are written to ``ALERT_DIRECTORY/undelivered`` instead of being lost.
    """
    from ..alerts import FileAlertSink

    worker = state.worker
    try:
        return worker.alert_sink.send(alerts)
    except Exception as err:
        kept = ""
        if not isinstance(worker.alert_sink, FileAlertSink) and worker.settings.alert_directory is not None:
            directory = worker.settings.alert_directory / "undelivered"
            try:
                FileAlertSink(directory).send(alerts)
                kept = f"; the packets are kept in {directory} for a replay"
            except Exception:
                _LOG.exception("Could not keep the undelivered alerts in %s", directory)
        raise NonRetriableError(
            f"the APDB holds this visit's rows but {len(alerts)} alerts could not be sent "
            f"({type(err).__name__}: {err}); a retry would not send them{kept}"
        ) from err


def export(state: VisitState) -> None:
    """Export outputs to the central repository, DIA rows to the APDB, then alerts to the sink.

    The central export is idempotent (deterministic dataset IDs) and comes
    first; the APDB store is idempotent per detector-visit and comes next;
    alerts are sent only if this call stored the APDB rows, so a redelivered
    visit sends none twice.
    """
    _export_central(state)
    _export_apdb_and_alerts(state)
    metrics = state.worker.metrics
    if metrics is not None:
        metrics.add_dia_sources(state.result.dia_sources)
        metrics.add_alerts(state.result.alerts)


# --- clean -------------------------------------------------------------------------------------


def clean(state: VisitState) -> None:
    """Remove the visit's raws and runs from the local repository, keeping the cached inputs."""
    state.worker.local_repo.clean_visit(state.visit)
    for leftover in state.worker.holding.iterdir():
        leftover.unlink(missing_ok=True)
