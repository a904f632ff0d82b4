"""Reading the APDB before a visit and writing a visit's rows into it, once.

`store_visit` is idempotent per detector-visit: ``Apdb.store`` writes the
DiaObjects, DiaSources and DiaForcedSources of a visit in one transaction,
and before writing, ``Apdb.containsVisitDetector`` tells whether that
detector-visit is already there.  DiaSource IDs are deterministic (see
`promptproc.ids`), so a second writer racing the first fails on the primary
key, its transaction rolls back, and the repeated check then reports the
visit as already stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import BadInputError, ConfigurationError, ServiceUnavailableError
from ._create import _database_errors, _describe, _first_line
from ._rows import empty_table_frame, make_table_frame, table_columns

if TYPE_CHECKING:
    import astropy.time
    from lsst.dax.apdb import Apdb
    from lsst.sphgeom import Region

__all__ = ["StoreResult", "load_dia_objects", "load_dia_source_history", "store_visit"]

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StoreResult:
    """What `store_visit` did.

    Attributes
    ----------
    visit, detector : `int`
        The detector-visit.
    stored : `bool`
        `True` if this call wrote the rows.
    already_stored : `bool`
        `True` if the APDB already held this detector-visit, so nothing was
        written (a retry or a redelivered event).
    n_objects, n_sources, n_forced : `int`
        Rows written (0 when nothing was written).
    """

    visit: int
    detector: int
    stored: bool
    already_stored: bool
    n_objects: int = 0
    n_sources: int = 0
    n_forced: int = 0

    @property
    def status(self) -> str:
        """``"stored"``, ``"already stored"`` or ``"nothing to store"``."""
        if self.stored:
            return "stored"
        return "already stored" if self.already_stored else "nothing to store"


def store_visit(
    apdb: Apdb,
    visit_time: astropy.time.Time,
    dia_objects: pd.DataFrame,
    dia_sources: pd.DataFrame,
    forced: pd.DataFrame | None = None,
    *,
    visit: int | None = None,
    detector: int | None = None,
) -> StoreResult:
    """Store one detector-visit's DIA rows in the APDB, unless already there.

    Parameters
    ----------
    apdb : `lsst.dax.apdb.Apdb`
        The APDB.
    visit_time : `astropy.time.Time`
        Time of the visit; new DiaObject versions start there.
    dia_objects : `pandas.DataFrame`
        New and updated DiaObject rows.
    dia_sources : `pandas.DataFrame`
        DiaSource rows, all of one visit and detector.
    forced : `pandas.DataFrame`, optional
        DiaForcedSource rows of the same detector-visit.
    visit, detector : `int`, optional
        The detector-visit; needed only when there are no source rows to
        read it from, and checked against them otherwise.

    Returns
    -------
    result : `StoreResult`
        Whether rows were written, and how many.

    Raises
    ------
    promptproc.errors.BadInputError
        If the rows mix detector-visits, disagree with ``visit``/``detector``,
        or lack required columns.
    promptproc.errors.ServiceUnavailableError
        If the database cannot be reached.
    promptproc.errors.ConfigurationError
        If the database refuses the rows for another reason.

    Notes
    -----
    Columns outside the APDB schema are dropped (logged at debug level).
    A detector-visit with neither DiaSources nor DiaForcedSources cannot be
    told from one never processed (``containsVisitDetector`` looks at those
    two tables), so its DiaObjects, if any, are not stored and the result is
    ``"nothing to store"``.
    """
    visit, detector = _visit_detector(visit, detector, dia_sources, forced)
    n_forced_in = 0 if forced is None else len(forced)
    if len(dia_sources) == 0 and n_forced_in == 0:
        if len(dia_objects):
            _LOG.warning(
                "visit %d detector %d: %d DiaObjects but no sources; nothing stored",
                visit,
                detector,
                len(dia_objects),
            )
        return StoreResult(visit, detector, stored=False, already_stored=False)
    where = _where(apdb)
    with _database_errors(where):
        if apdb.containsVisitDetector(visit, detector):
            _LOG.info("visit %d detector %d: already in the APDB, nothing stored", visit, detector)
            return StoreResult(visit, detector, stored=False, already_stored=True)
    objects = make_table_frame(table_columns("DiaObject", apdb), dia_objects)
    sources = make_table_frame(table_columns("DiaSource", apdb), dia_sources)
    forced_rows = None if forced is None else make_table_frame(table_columns("DiaForcedSource", apdb), forced)
    try:
        with _database_errors(where), _pandas_errors(where):
            apdb.store(visit_time, objects, sources, forced_rows)
    except ServiceUnavailableError:
        raise
    except Exception:
        # A concurrent writer of the same detector-visit wins on the primary
        # keys and this transaction rolls back: the visit is then stored.
        with _database_errors(where):
            if apdb.containsVisitDetector(visit, detector):
                _LOG.info("visit %d detector %d: stored concurrently by another writer", visit, detector)
                return StoreResult(visit, detector, stored=False, already_stored=True)
        raise
    _LOG.info(
        "visit %d detector %d: stored %d DiaObjects, %d DiaSources, %d DiaForcedSources",
        visit,
        detector,
        len(objects),
        len(sources),
        n_forced_in,
    )
    return StoreResult(
        visit,
        detector,
        stored=True,
        already_stored=False,
        n_objects=len(objects),
        n_sources=len(sources),
        n_forced=n_forced_in,
    )


def load_dia_objects(apdb: Apdb, region: Region) -> pd.DataFrame:
    """Preload the latest versions of the DiaObjects in a sky region.

    Parameters
    ----------
    apdb : `lsst.dax.apdb.Apdb`
        The APDB.
    region : `lsst.sphgeom.Region`
        Where to look, e.g. a detector's footprint padded by the match radius.

    Returns
    -------
    objects : `pandas.DataFrame`
        DiaObject rows with every schema column (``Apdb.getDiaObjects``);
        possibly some just outside ``region``.  Empty with the right columns
        when there are none.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the database cannot be reached.
    """
    with _database_errors(_where(apdb)):
        objects = apdb.getDiaObjects(region)
    if objects.empty:
        return empty_table_frame(table_columns("DiaObject", apdb))
    return objects.reset_index(drop=True)


def load_dia_source_history(
    apdb: Apdb,
    region: Region,
    object_ids: Iterable[int],
    visit_time: astropy.time.Time,
    start_time: astropy.time.Time | None = None,
) -> pd.DataFrame:
    """Preload the earlier DiaSources of some DiaObjects, for alert packets.

    Parameters
    ----------
    apdb : `lsst.dax.apdb.Apdb`
        The APDB.
    region : `lsst.sphgeom.Region`
        The region the objects came from.
    object_ids : `~collections.abc.Iterable` [`int`]
        DiaObject IDs, e.g. those `load_dia_objects` returned.
    visit_time : `astropy.time.Time`
        Time of the visit; with ``start_time`` unset the APDB's
        ``read_sources_months`` before it bound the history.
    start_time : `astropy.time.Time`, optional
        Earliest ``midpointMjdTai`` to return.

    Returns
    -------
    sources : `pandas.DataFrame`
        DiaSource rows of those objects sorted by ``diaObjectId`` and
        ``midpointMjdTai``; empty (with every column) if there are none or
        the APDB is configured to keep no source history.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the database cannot be reached.
    """
    ids = sorted({int(i) for i in object_ids})
    with _database_errors(_where(apdb)):
        sources = apdb.getDiaSources(region, ids, visit_time, start_time) if ids else None
    if sources is None or sources.empty:
        return empty_table_frame(table_columns("DiaSource", apdb))
    return sources.sort_values(["diaObjectId", "midpointMjdTai", "diaSourceId"]).reset_index(drop=True)


def _visit_detector(
    visit: int | None, detector: int | None, sources: pd.DataFrame, forced: pd.DataFrame | None
) -> tuple[int, int]:
    """Read the one detector-visit of the rows, checking it against the arguments."""
    found: dict[str, set[int]] = {"visit": set(), "detector": set()}
    for frame in (sources, forced):
        if frame is None or len(frame) == 0:
            continue
        for name in found:
            if name not in frame.columns:
                raise BadInputError(f"APDB source rows lack the {name} column")
            values = frame[name].dropna()
            if len(values) < len(frame):
                raise BadInputError(f"APDB source rows have a null {name}")
            found[name].update(int(v) for v in np.unique(values.to_numpy(dtype=np.int64)))
    values = {"visit": visit, "detector": detector}
    for name, seen in found.items():
        given = values[name]
        if len(seen) > 1:
            raise BadInputError(f"rows of one store_visit call span several {name}s: {sorted(seen)}")
        if seen and given is not None and int(given) not in seen:
            raise BadInputError(f"rows are for {name} {seen.pop()}, not {given}")
        if seen:
            values[name] = seen.pop()
        elif given is None:
            raise BadInputError(f"no source rows to read the {name} from: pass {name}=")
    return int(values["visit"]), int(values["detector"])  # type: ignore[arg-type]


@contextlib.contextmanager
def _pandas_errors(where: str) -> Iterator[None]:
    """Unwrap the database errors that pandas' ``to_sql`` (inside ``Apdb.store``) wraps."""
    import sqlalchemy.exc

    try:
        yield
    except pd.errors.DatabaseError as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        reason = _first_line(cause)
        if isinstance(cause, sqlalchemy.exc.OperationalError):
            raise ServiceUnavailableError(f"cannot use the APDB database {where}: {reason}") from None
        raise ConfigurationError(f"APDB database {where} refused the rows: {reason}") from None


def _where(apdb: Apdb) -> str:
    config = apdb.getConfig()
    return _describe(str(getattr(config, "db_url", type(apdb).__name__)), getattr(config, "namespace", None))
