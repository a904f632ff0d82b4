"""Export of a pipeline's outputs from a local repository to the central one.

Outputs are re-keyed on the way: each dataset gets, in the central output
run, the ID fixed by its dataset type, data ID and RUN
(`~lsst.daf.butler.DatasetIdGenEnum.DATAID_TYPE_RUN`), and its file is
ingested with that ID.  The local IDs are random (pipe_base's
``SimplePipelineExecutor`` builds its graph with random UUIDs), but the
central ID of an output depends only on what it is, so exporting the same
visit twice -- a retry, a redelivery, two workers given the same visit --
adds nothing the second time: datasets already there under their
deterministic ID are skipped and counted, and a different dataset at the
same data ID (written by something that did not use deterministic IDs) is
an error rather than a silent duplicate.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lsst.daf.butler import (
    Butler,
    CollectionType,
    DatasetIdGenEnum,
    DatasetRef,
    DatasetType,
    FileDataset,
)
from lsst.daf.butler.registry import ConflictingDefinitionError, MissingCollectionError

from ..errors import ConfigurationError
from ._ingest import ensure_collection

__all__ = ["ExportConflictError", "ExportResult", "compile_patterns", "export_outputs", "output_run_name"]

_LOG = logging.getLogger(__name__)

_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class ExportConflictError(ConfigurationError):
    """The central run holds another dataset at the data ID of an output being exported."""


@dataclass
class ExportResult:
    """What `export_outputs` did.

    Attributes
    ----------
    run : `str`
        The central RUN collection.
    exported : `dict` [`str`, `int`]
        Datasets ingested into the central repository, by dataset type.
    skipped : `dict` [`str`, `int`]
        Datasets already there with the same deterministic ID, by dataset type.
    not_selected : `list` [`str`]
        Dataset types of the local run that no pattern matched.
    refs : `list` [`lsst.daf.butler.DatasetRef`]
        Central references of every selected dataset (exported or skipped).
    seconds : `dict` [`str`, `float`]
        Wall time of each step (``query``, ``prepare``, ``records``,
        ``check``, ``ingest``) and ``total``.
    """

    run: str
    exported: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    not_selected: list[str] = field(default_factory=list)
    refs: list[DatasetRef] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_exported(self) -> int:
        """Datasets ingested now."""
        return sum(self.exported.values())

    @property
    def n_skipped(self) -> int:
        """Datasets that were already in the central run."""
        return sum(self.skipped.values())

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"exported {self.n_exported} datasets to {self.run} ({self.n_skipped} already there) "
            f"in {self.seconds.get('total', 0.0):.3f} s"
        )


def output_run_name(instrument: str, day_obs: int | str, pipeline: str, deployment: str) -> str:
    """Name of a pipeline's output run, ``{instrument}/prompt/output-{day_obs}/{pipeline}/{deployment}``.

    Parameters
    ----------
    instrument : `str`
        Instrument name.
    day_obs : `int` or `str`
        Observing day: ``YYYYMMDD`` (written ``YYYY-MM-DD``, as Rubin does)
        or already ``YYYY-MM-DD``.
    pipeline : `str`
        Pipeline name, or its file (the base name without ``.yaml`` is used).
    deployment : `str`
        Deployment name (``DEPLOYMENT_NAME``).

    Returns
    -------
    run : `str`
        The run name, e.g. ``SimCam/prompt/output-2026-11-22/ApPipe/promptproc-1.0-ab12cd3``.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a component is empty, holds a ``/`` or other unsafe character,
        or ``day_obs`` is not a date.
    """
    text = str(day_obs)
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    if match is None:
        raise ConfigurationError(f"day_obs {day_obs!r} is not YYYYMMDD or YYYY-MM-DD")
    date = "-".join(match.groups())
    name = pipeline.rsplit("/", 1)[-1].removesuffix(".yaml")
    for label, value in (("instrument", instrument), ("pipeline", name), ("deployment", deployment)):
        if not _COMPONENT.fullmatch(value):
            raise ConfigurationError(f"{label} {value!r} cannot be part of a run name")
    return f"{instrument}/prompt/output-{date}/{name}/{deployment}"


def compile_patterns(patterns: Iterable[str | re.Pattern[str]]) -> list[re.Pattern[str]]:
    """Compile ``EXPORT_TYPE_REGEXP``-style patterns.

    Parameters
    ----------
    patterns : iterable of `str` or `re.Pattern`
        Regular expressions matched against whole dataset type names.

    Returns
    -------
    compiled : `list` [`re.Pattern`]
        The patterns.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a pattern is not a valid regular expression.
    """
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            compiled.append(pattern)
            continue
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise ConfigurationError(f"invalid export pattern {pattern!r}: {err}") from None
    return compiled


def _deterministic(ref: DatasetRef, dataset_type: DatasetType, run: str) -> DatasetRef:
    return DatasetRef(dataset_type, ref.dataId, run=run, id_generation_mode=DatasetIdGenEnum.DATAID_TYPE_RUN)


def _existing(central: Butler, dataset_type: DatasetType, refs: Sequence[DatasetRef], run: str) -> dict:
    """Datasets of one type already in the central run at the data IDs of ``refs``, by data ID."""
    if not refs:
        return {}
    with central.query() as query:
        if dataset_type.dimensions.names:
            query = query.join_data_coordinates(ref.dataId.subset(dataset_type.dimensions) for ref in refs)
        found = query.datasets(dataset_type, collections=[run], find_first=False)
        return {ref.dataId.required_values: ref for ref in found}


def _register(central: Butler, dataset_types: Iterable[DatasetType]) -> dict[str, DatasetType]:
    registered = {}
    for dataset_type in dataset_types:
        try:
            central.registry.registerDatasetType(dataset_type)
        except ConflictingDefinitionError as err:
            raise ConfigurationError(
                f"dataset type {dataset_type.name} exists centrally with another definition: "
                f"{str(err).splitlines()[0]}"
            ) from None
        registered[dataset_type.name] = central.get_dataset_type(dataset_type.name)
    return registered


def _ingest(
    central: Butler, local: Butler, pairs: list[tuple[DatasetRef, DatasetRef]], transfer: str
) -> list[DatasetRef]:
    """Ingest local files under their central references; tolerate a concurrent exporter.

    Returns the central references ingested by this call.
    """
    uris = local.get_many_uris([source for source, _ in pairs])
    datasets = []
    for source, target in pairs:
        primary = uris[source].primaryURI
        if primary is None:
            raise ConfigurationError(
                f"{source.datasetType.name} {source.dataId} is stored in several files; it cannot be exported"
            )
        datasets.append(FileDataset(path=primary, refs=[target]))
    try:
        central.ingest(*datasets, transfer=transfer)
        return [target for _, target in pairs]
    except ConflictingDefinitionError:
        _LOG.warning("another worker exported some of these datasets at the same time; retrying one by one")
    done = []
    for dataset in datasets:
        target = dataset.refs[0]
        if central.registry.getDataset(target.id) is None:
            central.ingest(dataset, transfer=transfer)
            done.append(target)
    return done


def export_outputs(
    local: Butler,
    run: str,
    central: Butler,
    dataset_type_patterns: Iterable[str | re.Pattern[str]],
    central_run: str | None = None,
    transfer: str = "copy",
) -> ExportResult:
    """Copy the outputs in a local run to a central run, with deterministic dataset IDs.

    Parameters
    ----------
    local : `lsst.daf.butler.Butler`
        The local repository.
    run : `str`
        The local output RUN collection (one visit's outputs).
    central : `lsst.daf.butler.Butler`
        The writeable central repository (any registry and datastore).
    dataset_type_patterns : iterable of `str` or `re.Pattern`
        ``EXPORT_TYPE_REGEXP``: a dataset type is exported if one pattern
        matches its whole name.
    central_run : `str`, optional
        Central RUN collection; ``run`` by default (name local output runs
        with `output_run_name`).  Created if needed.
    transfer : `str`, optional
        How files reach the central datastore.

    Returns
    -------
    result : `ExportResult`
        Counts of exported and skipped datasets by type, and timings.

    Raises
    ------
    ExportConflictError
        If the central run already holds a different dataset (another ID) at
        the data ID of a selected output; nothing is ingested.
    promptproc.errors.ConfigurationError
        If a pattern is invalid or a dataset type is defined differently in
        the central repository.
    """
    start = time.perf_counter()
    patterns = compile_patterns(dataset_type_patterns)
    target_run = central_run or run
    result = ExportResult(run=target_run)

    try:
        info = local.collections.get_info(run, include_summary=True)
    except MissingCollectionError:
        _LOG.warning("local run %s does not exist: nothing to export", run)
        result.seconds["total"] = time.perf_counter() - start
        return result
    selected: dict[str, list[DatasetRef]] = {}
    for name in sorted(info.dataset_types or ()):
        if not any(pattern.fullmatch(name) for pattern in patterns):
            result.not_selected.append(name)
            continue
        refs = local.query_datasets(
            name, collections=run, find_first=False, with_dimension_records=True, explain=False, limit=None
        )
        if refs:
            selected[name] = refs
    result.seconds["query"] = time.perf_counter() - start
    if not selected:
        result.seconds["total"] = time.perf_counter() - start
        _LOG.info("no outputs of %s match the export patterns", run)
        return result

    mark = time.perf_counter()
    ensure_collection(central, target_run, CollectionType.RUN)
    types = _register(central, (refs[0].datasetType for refs in selected.values()))
    result.seconds["prepare"] = time.perf_counter() - mark

    mark = time.perf_counter()
    all_refs = [ref for refs in selected.values() for ref in refs]
    central.transfer_dimension_records_from(local, all_refs)
    result.seconds["records"] = time.perf_counter() - mark

    mark = time.perf_counter()
    todo: list[tuple[DatasetRef, DatasetRef]] = []
    conflicts: list[str] = []
    for name, refs in selected.items():
        existing = _existing(central, types[name], refs, target_run)
        for ref in refs:
            target = _deterministic(ref, types[name], target_run)
            result.refs.append(target)
            found = existing.get(ref.dataId.subset(types[name].dimensions).required_values)
            if found is None:
                todo.append((ref, target))
            elif found.id == target.id:
                result.skipped[name] = result.skipped.get(name, 0) + 1
            else:
                conflicts.append(
                    f"{name} {ref.dataId.required} (central ID {found.id}, expected {target.id})"
                )
    if conflicts:
        raise ExportConflictError(
            f"central run {target_run} already holds other datasets at the data IDs of "
            f"{len(conflicts)} outputs: {'; '.join(conflicts[:5])}"
        )
    result.seconds["check"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if todo:
        done = {ref.id for ref in _ingest(central, local, todo, transfer)}
        for _, target in todo:
            counts = result.exported if target.id in done else result.skipped
            counts[target.datasetType.name] = counts.get(target.datasetType.name, 0) + 1
    result.seconds["ingest"] = time.perf_counter() - mark
    result.seconds["total"] = time.perf_counter() - start
    _LOG.info(result.summary())
    return result
