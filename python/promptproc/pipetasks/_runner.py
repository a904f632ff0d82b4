"""Running a pipeline YAML on a local repository: the one place that calls pipe_base's executor.

`run_pipeline` loads a pipeline file, substitutes its ``parameters`` (e.g.
``apdb_config``), builds the quantum graph for a data-ID constraint with
`~lsst.pipe.base.simple_pipeline_executor.SimplePipelineExecutor` and
executes every quantum in topological order, in this process, writing to a
RUN collection of the local Butler.  Package versions are not saved (the
``packages`` dataset scans every installed distribution: 50-300 ms) and the
output dataset types are registered on the way.

Graph building and execution fail differently, as the worker needs:

- a graph that cannot be built, or is empty (missing inputs, no template
  covering the detector, an unknown collection or dataset type) raises
  `PipelineGraphError` before anything is written: the worker tries its
  next pipeline (``ApPipe`` -> ``SingleFrame``);
- a quantum that fails is recorded in the `PipelineRunResult`
  (`QuantumOutcome` with its exception), its downstream quanta are
  ``blocked``, and independent quanta still run; nothing is raised.

Execution mirrors ``SimplePipelineExecutor.as_generator`` (register dataset
types, write configs and init-outputs, `SingleQuantumExecutor` per quantum)
because that generator stops at the first exception, with no way to report
which quantum failed and what was blocked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import lsst.pex.config as pex_config
import yaml
from lsst.daf.butler import Butler, CollectionType, DatasetRef, MissingDatasetTypeError
from lsst.daf.butler.registry import DataIdError, MissingCollectionError
from lsst.pipe.base import Pipeline, QuantumSuccessCaveats, TaskFactory
from lsst.pipe.base.quantum_graph_builder import QuantumGraphBuilderError
from lsst.pipe.base.simple_pipeline_executor import SimplePipelineExecutor
from lsst.pipe.base.single_quantum_executor import SingleQuantumExecutor

from ..errors import ConfigurationError, PromptprocError

__all__ = [
    "PipelineGraphError",
    "PipelineRunResult",
    "QuantumOutcome",
    "QuantumStatus",
    "data_id_constraint",
    "load_pipeline",
    "run_pipeline",
]

_LOG = logging.getLogger(__name__)


class PipelineGraphError(PromptprocError):
    """No quantum graph could be built for the pipeline and data ID; nothing was run.

    Parameters
    ----------
    message : `str`
        Why, in one line.
    pipeline : `str`
        The pipeline's name.
    """

    def __init__(self, message: str, pipeline: str) -> None:
        super().__init__(f"{pipeline}: {message}")
        self.pipeline = pipeline


class QuantumStatus(StrEnum):
    """What became of a quantum."""

    SUCCEEDED = "succeeded"
    """Ran and wrote its outputs."""
    NO_WORK = "no_work"
    """Ran (or was adjusted) and found nothing to do; not a failure."""
    PARTIAL = "partial"
    """Failed after writing partial outputs, counted as a qualified success
    (only with ``raise_on_partial_outputs=False``)."""
    FAILED = "failed"
    """Raised an exception; its outputs must not be used."""
    BLOCKED = "blocked"
    """Not run because an upstream quantum failed."""


@dataclass(frozen=True)
class QuantumOutcome:
    """The outcome of one quantum.

    Attributes
    ----------
    label : `str`
        Task label in the pipeline.
    data_id : `dict` [`str`, `object`]
        Required dimensions of the quantum.
    status : `QuantumStatus`
        What became of it.
    seconds : `float`
        Wall time of its execution (0 for blocked quanta).
    caveats : `str`
        pipe_base's concise caveat code (``""``, ``"*N"``, ``"*A"``, ``"+P"``...),
        see `lsst.pipe.base.QuantumSuccessCaveats.legend`.
    error : `BaseException` or `None`
        The exception of a failed quantum; for the errors of
        `promptproc.pipetasks` its ``science_error`` (or ``__cause__``) is
        the exception of the science code.
    failure : `dict` [`str`, `object`]
        For a `QuantumStatus.PARTIAL` quantum, what the task recorded about
        its failure (``type``, ``message``, ``metadata``); empty otherwise.
    """

    label: str
    data_id: dict[str, Any]
    status: QuantumStatus
    seconds: float = 0.0
    caveats: str = ""
    error: BaseException | None = None
    failure: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """``Type: message`` of the error (or of the recorded failure); empty if none."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        if self.failure:
            return (
                f"{str(self.failure.get('type', '')).rsplit('.', 1)[-1]}: {self.failure.get('message', '')}"
            )
        return ""

    @property
    def error_metadata(self) -> dict[str, Any]:
        """Metadata of an `~lsst.pipe.base.AlgorithmError` (e.g. the failed calibration step)."""
        metadata = getattr(self.error, "metadata", None)
        if metadata is None:
            metadata = self.failure.get("metadata")
        return dict(metadata) if isinstance(metadata, Mapping) else {}

    def describe(self) -> str:
        """One line: label, data ID, status and error."""
        keys = ", ".join(f"{k}={v}" for k, v in self.data_id.items() if k != "instrument")
        text = f"{self.label} ({keys}): {self.status.value} in {self.seconds:.3f} s"
        if self.caveats:
            text += f" [{self.caveats}]"
        if self.message:
            text += f" - {self.message}"
        return text


@dataclass
class PipelineRunResult:
    """What `run_pipeline` did.

    Attributes
    ----------
    pipeline : `str`
        The pipeline's name (its file's stem).
    output_run : `str`
        The RUN collection written.
    quanta : `list` [`QuantumOutcome`]
        Every quantum of the graph, in execution order.
    outputs : `list` [`lsst.daf.butler.DatasetRef`]
        Every dataset in ``output_run`` after the run, including the
        ``*_config``, ``*_metadata`` and ``*_log`` datasets.
    seconds : `dict` [`str`, `float`]
        Wall time of ``load`` (read the YAML, apply parameters), ``graph``
        (build the quantum graph), ``init`` (register dataset types, write
        configs and init-outputs), ``execute`` (all quanta),
        ``outputs`` (query the outputs) and ``total``.
    """

    pipeline: str
    output_run: str
    quanta: list[QuantumOutcome] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[QuantumStatus, int]:
        """Number of quanta of every status."""
        return {status: sum(1 for q in self.quanta if q.status is status) for status in QuantumStatus}

    @property
    def n_succeeded(self) -> int:
        """Quanta that ran without raising (`QuantumStatus.SUCCEEDED`, ``NO_WORK`` or ``PARTIAL``)."""
        counts = self.counts
        return counts[QuantumStatus.SUCCEEDED] + counts[QuantumStatus.NO_WORK] + counts[QuantumStatus.PARTIAL]

    @property
    def n_failed(self) -> int:
        """Quanta that raised."""
        return self.counts[QuantumStatus.FAILED]

    @property
    def n_blocked(self) -> int:
        """Quanta not run because of an upstream failure."""
        return self.counts[QuantumStatus.BLOCKED]

    @property
    def ok(self) -> bool:
        """Whether no quantum failed, was blocked or wrote only partial outputs."""
        return all(q.status in (QuantumStatus.SUCCEEDED, QuantumStatus.NO_WORK) for q in self.quanta)

    @property
    def complete(self) -> bool:
        """Whether every quantum succeeded with all its outputs (no caveat at all)."""
        return all(q.status is QuantumStatus.SUCCEEDED for q in self.quanta)

    @property
    def failed(self) -> list[QuantumOutcome]:
        """The failed quanta."""
        return [q for q in self.quanta if q.status is QuantumStatus.FAILED]

    @property
    def task_seconds(self) -> dict[str, float]:
        """Execution wall time by task label (quanta of a label summed)."""
        result: dict[str, float] = {}
        for quantum in self.quanta:
            result[quantum.label] = result.get(quantum.label, 0.0) + quantum.seconds
        return result

    @property
    def overhead_seconds(self) -> float:
        """Middleware time of the run: everything but the quanta's own execution time.

        The quanta's times still include their Butler reads and writes and
        the executor's per-quantum bookkeeping (logs, metadata).
        """
        return self.seconds.get("total", 0.0) - sum(q.seconds for q in self.quanta)

    def outcome(self, label: str) -> QuantumOutcome:
        """The outcome of the (first) quantum of a task.

        Parameters
        ----------
        label : `str`
            Task label.

        Returns
        -------
        outcome : `QuantumOutcome`
            Its outcome.

        Raises
        ------
        KeyError
            If the graph had no quantum of that task.
        """
        for quantum in self.quanta:
            if quantum.label == label:
                return quantum
        raise KeyError(f"{self.pipeline} ran no quantum of task {label!r}")

    def outputs_of(self, dataset_type: str) -> list[DatasetRef]:
        """The output datasets of one dataset type.

        Parameters
        ----------
        dataset_type : `str`
            Dataset type name.

        Returns
        -------
        refs : `list` [`lsst.daf.butler.DatasetRef`]
            Those in ``outputs``.
        """
        return [ref for ref in self.outputs if ref.datasetType.name == dataset_type]

    def summary(self) -> str:
        """A few lines for the log: counts, timings, and one line per unsuccessful quantum."""
        counts = ", ".join(f"{n} {status.value}" for status, n in self.counts.items() if n)
        lines = [
            f"{self.pipeline} -> {self.output_run}: {len(self.quanta)} quanta ({counts}); "
            f"{len(self.outputs)} datasets; " + ", ".join(f"{k} {v:.3f} s" for k, v in self.seconds.items())
        ]
        lines.extend(f"  {q.describe()}" for q in self.quanta if q.status not in (QuantumStatus.SUCCEEDED,))
        return "\n".join(lines)


def data_id_constraint(data_id: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A ``where`` expression and its ``bind`` values equating dimensions to values.

    Parameters
    ----------
    data_id : `~collections.abc.Mapping`
        E.g. ``{"instrument": "SimCam", "exposure": 2026112200001, "detector": 4}``;
        a list or tuple value becomes ``IN (...)``.

    Returns
    -------
    where : `str`
        ``"instrument = _instrument AND exposure = _exposure AND ..."``.
    bind : `dict` [`str`, `object`]
        ``{"_instrument": "SimCam", ...}``.
    """
    terms = []
    bind: dict[str, Any] = {}
    for key, value in data_id.items():
        name = f"_{key}"
        bind[name] = list(value) if isinstance(value, list | tuple | set | frozenset) else value
        terms.append(
            f"{key} IN ({name})" if isinstance(value, list | tuple | set | frozenset) else f"{key} = {name}"
        )
    return " AND ".join(terms), bind


def load_pipeline(
    pipeline_file: str | Path | Pipeline,
    parameters: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Pipeline:
    """Read a pipeline and apply parameters and configuration overrides.

    Parameters
    ----------
    pipeline_file : `str`, `pathlib.Path` or `lsst.pipe.base.Pipeline`
        The YAML file (or an already loaded pipeline, which is not modified).
    parameters : `~collections.abc.Mapping`, optional
        Values of the pipeline's ``parameters`` section, e.g.
        ``{"apdb_config": "/config/apdb.yaml"}``.
    config : `~collections.abc.Mapping`, optional
        Overrides by task label: ``{"calibrate": {"psf_min_stars": 4}}``.

    Returns
    -------
    pipeline : `lsst.pipe.base.Pipeline`
        The pipeline with the overrides.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the file is missing or invalid, or an override names an unknown task.
    """
    if isinstance(pipeline_file, Pipeline):
        pipeline = pipeline_file.copy()
    else:
        path = Path(pipeline_file)
        if not path.is_file():
            raise ConfigurationError(f"pipeline file {path} does not exist")
        try:
            pipeline = Pipeline.from_uri(str(path))
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as err:
            raise ConfigurationError(f"invalid pipeline file {path}: {_first_line(err)}") from err
    for key, value in (parameters or {}).items():
        pipeline.addConfigOverride("parameters", key, value)
    for label, overrides in (config or {}).items():
        for key, value in overrides.items():
            try:
                pipeline.addConfigOverride(label, key, value)
            except LookupError as err:
                raise ConfigurationError(str(err)) from None
    return pipeline


def _pipeline_name(pipeline_file: str | Path | Pipeline) -> str:
    if isinstance(pipeline_file, Pipeline):
        return pipeline_file.getDescription() or "pipeline"
    return Path(pipeline_file).stem


def run_pipeline(
    butler: Butler,
    pipeline_file: str | Path | Pipeline,
    inputs: Sequence[str],
    output_run: str,
    *,
    data_id: Mapping[str, Any] | None = None,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    require_all_tasks: bool = False,
    raise_on_partial_outputs: bool = True,
    check: Callable[[], None] | None = None,
) -> PipelineRunResult:
    """Build and execute a pipeline's quantum graph in this process.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        Writeable Butler of the (local) repository; not modified (a clone
        with the run's collections is used).
    pipeline_file : `str`, `pathlib.Path` or `lsst.pipe.base.Pipeline`
        The pipeline YAML, e.g. ``pipelines/SimCam/ApPipe.yaml``.
    inputs : `~collections.abc.Sequence` [`str`]
        Collections to search for inputs, in order, e.g.
        ``[preload_run, "SimCam/defaults"]``.
    output_run : `str`
        RUN collection for the outputs (created if absent; it must not hold
        outputs of the same data IDs already).
    data_id : `~collections.abc.Mapping`, optional
        Dimension values to constrain the graph (`data_id_constraint`), e.g.
        ``instrument``, ``exposure`` and ``detector`` for a main pipeline, or
        ``instrument``, ``group`` and ``detector`` for preprocessing.  ANDed
        with ``where``.
    where : `str`, optional
        Further ``where`` expression.
    bind : `~collections.abc.Mapping`, optional
        Values of the identifiers in ``where``.
    parameters : `~collections.abc.Mapping`, optional
        Pipeline parameters, e.g. ``{"apdb_config": path}``.
    config : `~collections.abc.Mapping`, optional
        Configuration overrides by task label.
    require_all_tasks : `bool`, optional
        Raise `PipelineGraphError` if some task of the pipeline has no
        quantum (e.g. ``ApPipe`` when no template covers the detector).
    raise_on_partial_outputs : `bool`, optional
        If `True` (default) a task that wrote partial outputs and raised
        `~lsst.pipe.base.AnnotatedPartialOutputsError` fails; if `False` it
        is a qualified success (`QuantumStatus.PARTIAL`) and downstream
        quanta run (and most likely find no work).
    check : callable, optional
        Called with no argument before the graph is built and before every
        quantum, e.g. the worker's deadline or shutdown check; whatever it
        raises propagates at once (the quanta already run keep their
        outputs in ``output_run``).

    Returns
    -------
    result : `PipelineRunResult`
        Quanta outcomes, output datasets and timings.

    Raises
    ------
    PipelineGraphError
        If no (complete) graph could be built for these inputs and data ID;
        nothing was executed or written (a RUN made for the call is removed).
    promptproc.errors.ConfigurationError
        If the pipeline file, a task class, a configuration value or an
        override is invalid.
    """
    name = _pipeline_name(pipeline_file)
    check = check if check is not None else _no_check
    check()
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    pipeline = load_pipeline(pipeline_file, parameters, config)
    seconds["load"] = time.perf_counter() - start

    mark = time.perf_counter()
    terms, values = [], dict(bind or {})
    if data_id:
        data_where, data_bind = data_id_constraint(data_id)
        terms.append(data_where)
        values.update(data_bind)
    if where:
        terms.append(f"({where})")
    query = " AND ".join(terms)
    try:
        pipeline_graph = pipeline.to_graph()
    except (
        ValueError,
        TypeError,
        KeyError,
        ImportError,
        AttributeError,
        pex_config.FieldValidationError,
    ) as err:
        raise ConfigurationError(f"{name}: invalid pipeline or task configuration: {_chain(err)}") from err
    created = butler.collections.register(output_run, CollectionType.RUN)
    exec_butler = butler.clone(collections=[output_run, *inputs], run=output_run)
    try:
        try:
            executor = SimplePipelineExecutor.from_pipeline_graph(
                pipeline_graph,
                where=query,
                bind=values,
                butler=exec_butler,
                output_run=output_run,
                raise_on_partial_outputs=raise_on_partial_outputs,
            )
        except (
            QuantumGraphBuilderError,
            MissingDatasetTypeError,
            MissingCollectionError,
            DataIdError,
            FileNotFoundError,
        ) as err:
            raise PipelineGraphError(f"cannot build the quantum graph: {_first_line(err)}", name) from err
        predicted = executor.predicted
        if len(predicted) == 0:
            raise PipelineGraphError(f"the quantum graph for {query or 'all data'} is empty", name)
        if require_all_tasks:
            empty = [label for label, quanta in predicted.quanta_by_task.items() if not quanta]
            if empty:
                raise PipelineGraphError(
                    f"no quanta for task(s) {', '.join(empty)} with {query or 'all data'}", name
                )
    except PipelineGraphError:
        if created:  # leave nothing behind: the RUN is still empty
            butler.registry.removeCollection(output_run)
        raise
    seconds["graph"] = time.perf_counter() - mark

    try:
        mark = time.perf_counter()
        predicted.pipeline_graph.register_dataset_types(exec_butler)
        predicted.write_configs(exec_butler, compare_existing=False)
        predicted.write_init_outputs(exec_butler, skip_existing=False)
        quantum_executor = SingleQuantumExecutor(
            butler=exec_butler,
            task_factory=TaskFactory(),
            assume_no_existing_outputs=True,
            raise_on_partial_outputs=raise_on_partial_outputs,
        )
        predicted.build_execution_quanta()
        seconds["init"] = time.perf_counter() - mark

        mark = time.perf_counter()
        result = PipelineRunResult(pipeline=name, output_run=output_run)
        result.quanta = _execute(predicted, quantum_executor, check)
        seconds["execute"] = time.perf_counter() - mark

        mark = time.perf_counter()
        result.outputs = exec_butler.query_all_datasets(output_run, find_first=False, limit=None)
        seconds["outputs"] = time.perf_counter() - mark
    finally:
        # The caller's Butler caches collection summaries and dataset types: without a
        # refresh its queries would not see what the clone just wrote.
        butler.registry.refresh()
    seconds["total"] = time.perf_counter() - start
    result.seconds = seconds
    level = logging.INFO if result.ok else logging.WARNING
    _LOG.log(level, result.summary())
    return result


def _no_check() -> None:
    """The default ``check`` of `run_pipeline`: never stop."""


def _execute(
    predicted: Any, quantum_executor: SingleQuantumExecutor, check: Callable[[], None]
) -> list[QuantumOutcome]:
    """Run every quantum in graph order; a failure blocks its descendants only."""
    import networkx

    xgraph = predicted.quantum_only_xgraph
    blocked: set[Any] = set()
    outcomes = []
    for quantum_id in predicted:
        node = xgraph.nodes[quantum_id]
        task_node, quantum = node["pipeline_node"], node["quantum"]
        data_id = {key: quantum.dataId[key] for key in quantum.dataId.dimensions.required}
        if quantum_id in blocked:
            outcomes.append(QuantumOutcome(task_node.label, data_id, QuantumStatus.BLOCKED))
            continue
        check()
        start = time.perf_counter()
        try:
            execution = quantum_executor.execute(task_node, quantum, quantum_id)
        except Exception as err:
            elapsed = time.perf_counter() - start
            blocked.update(networkx.descendants(xgraph, quantum_id))
            outcomes.append(
                QuantumOutcome(task_node.label, data_id, QuantumStatus.FAILED, elapsed, error=err)
            )
            continue
        elapsed = time.perf_counter() - start
        metadata = getattr(execution, "task_metadata", None)
        caveats = _caveats(metadata)
        failure: dict[str, Any] = {}
        if caveats & QuantumSuccessCaveats.PARTIAL_OUTPUTS_ERROR:
            status = QuantumStatus.PARTIAL
            failure = _failure(metadata, task_node.label)
        elif caveats & QuantumSuccessCaveats.NO_WORK:
            status = QuantumStatus.NO_WORK
        else:
            status = QuantumStatus.SUCCEEDED
        outcomes.append(
            QuantumOutcome(task_node.label, data_id, status, elapsed, caveats.concise(), failure=failure)
        )
    return outcomes


def _caveats(metadata: Any) -> QuantumSuccessCaveats:
    """The caveat flags the executor recorded in the quantum's metadata."""
    try:
        return QuantumSuccessCaveats(int(metadata["quantum"]["caveats"]))
    except (TypeError, KeyError, ValueError):
        return QuantumSuccessCaveats.NO_CAVEATS


def _failure(metadata: Any, label: str) -> dict[str, Any]:
    """What `~lsst.pipe.base.AnnotatedPartialOutputsError.annotate` recorded in the task metadata."""
    try:
        return dict(metadata[label]["failure"].to_dict())
    except (TypeError, KeyError, AttributeError):
        return {}


def _chain(err: BaseException) -> str:
    """First lines of an exception and of its causes, joined ("see chained exception" made readable)."""
    parts = []
    current: BaseException | None = err
    while current is not None and len(parts) < 5:
        parts.append(_first_line(current))
        current = current.__cause__
    return ": ".join(parts)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
