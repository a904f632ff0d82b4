"""Association of a detector-visit's DIA sources with the preloaded DIA objects.

`run` is pure: it takes the DIA source catalog of one detector-visit and the
DiaObjects preloaded from the APDB, and returns the APDB rows to store.  It
never touches the APDB, so the same inputs always give the same rows.

Input contract (the DIA source catalog, e.g. from ``promptproc.tasks.dia``):
an `astropy.table.Table` (or a `pandas.DataFrame`) with one row per source and
columns named like the APDB ``DiaSource`` table, at least

========================  ===========================================================
column                    meaning
========================  ===========================================================
``x``, ``y``              centroid, pixels (0-based, pixel centre at integer values)
``ra``, ``dec``           centroid on the sky, degrees (ICRS)
``psfFlux``               PSF flux on the difference image, nJy
``psfFluxErr``            its standard error, nJy
``snr``                   signal-to-noise ratio of the detection
========================  ===========================================================

Any other column named like a ``DiaSource`` column (``isDipole``, ``bboxSize``,
flags...) is carried into the rows; other columns are dropped.  Columns with
astropy units are converted (``ra``/``dec`` to degrees, fluxes to nJy).
``diaSourceId``, ``diaObjectId``, ``visit``, ``detector``, ``band``,
``midpointMjdTai`` and ``timeProcessedMjdTai`` are always set here.  The row
number of a source in the catalog is its ``index`` in its ID (`promptproc.ids`),
so the catalog order must be deterministic.  A row whose ``ra``, ``dec``,
``x`` or ``y`` is not finite, or whose ``dec`` is outside [-90, 90], is rejected:
logged, counted in `AssociationResult.n_rejected`, and not stored.

Matching is one-to-one within ``match_radius_arcsec``: every source-object pair
within the radius is a candidate; candidates are accepted nearest first
(ties broken by source index, then object ID) while neither side is taken.
A source left without an object creates a DiaObject whose ID is the source's
ID.  A matched DiaObject gets a new version: ``nDiaSources + 1``, a position
that is the mean of its sources' unit vectors (the old position weighted by
the old ``nDiaSources``), ``lastDiaSourceMjdTai``, and the per-band PSF flux
statistics of the visit's band updated with the new flux:
``{band}_psfFluxNdata``, ``Mean`` (inverse-variance weighted), ``MeanErr``,
``Sigma`` (sample standard deviation; updated with Welford's formula about
the weighted mean, exact when the flux errors are equal), ``Min``, ``Max``
and ``ErrMean``.  A source whose flux or error is not finite, or whose
error is not positive, counts in ``nDiaSources`` but not in the flux
statistics.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import lsst.pex.config as pex_config
import numpy as np
import pandas as pd
from astropy import units as u
from astropy.table import Table

from ..apdb._rows import make_table_frame, table_columns
from ..errors import BadInputError, ConfigurationError
from ..ids import DiaIdPacker

__all__ = [
    "REQUIRED_SOURCE_COLUMNS",
    "AssociationConfig",
    "AssociationResult",
    "match_one_to_one",
    "run",
]

_LOG = logging.getLogger(__name__)

REQUIRED_SOURCE_COLUMNS = ("x", "y", "ra", "dec", "psfFlux", "psfFluxErr", "snr")
"""Columns every DIA source catalog must have."""

_REQUIRED_OBJECT_COLUMNS = ("diaObjectId", "ra", "dec", "nDiaSources")
_SET_HERE = (
    "diaSourceId",
    "diaObjectId",
    "visit",
    "detector",
    "band",
    "midpointMjdTai",
    "timeProcessedMjdTai",
)
_UNITS = {"ra": u.deg, "dec": u.deg, "psfFlux": u.nJy, "psfFluxErr": u.nJy}
_ARCSEC = math.pi / (180.0 * 3600.0)


class AssociationConfig(pex_config.Config):
    """Configuration of DIA source association."""

    match_radius_arcsec = pex_config.RangeField(
        dtype=float,
        default=1.0,
        min=0.0,
        inclusiveMin=False,
        max=60.0,
        doc="Largest source-object separation that may be a match, arcseconds (inclusive).",
    )


@dataclasses.dataclass(frozen=True)
class AssociationResult:
    """The rows association made for one detector-visit.

    Attributes
    ----------
    dia_sources : `pandas.DataFrame`
        APDB ``DiaSource`` rows of the accepted sources, in catalog order,
        each with its ``diaObjectId``.
    dia_objects : `pandas.DataFrame`
        APDB ``DiaObject`` rows: new versions of the matched objects, then
        the new objects, one per ``diaObjectId`` in ``dia_sources``.
    n_matched : `int`
        Sources matched to a preloaded object.
    n_new : `int`
        Sources that created a new object.
    n_rejected : `int`
        Catalog rows rejected for bad coordinates.
    rejected_indices : `numpy.ndarray`
        Catalog row numbers of the rejected rows.
    match_distance_arcsec : `numpy.ndarray`
        Separation of each accepted source from its matched object, NaN for
        new objects; aligned with ``dia_sources``.
    """

    dia_sources: pd.DataFrame
    dia_objects: pd.DataFrame
    n_matched: int
    n_new: int
    n_rejected: int
    rejected_indices: np.ndarray
    match_distance_arcsec: np.ndarray


def run(
    dia_sources: Table | pd.DataFrame,
    dia_objects: pd.DataFrame,
    visit: int,
    detector: int,
    band: str,
    midpoint_mjd_tai: float,
    *,
    id_packer: DiaIdPacker,
    config: AssociationConfig | None = None,
    time_processed_mjd_tai: float | None = None,
) -> AssociationResult:
    """Associate one detector-visit's DIA sources with preloaded DIA objects.

    Parameters
    ----------
    dia_sources : `astropy.table.Table` or `pandas.DataFrame`
        The DIA source catalog (see the module documentation).
    dia_objects : `pandas.DataFrame`
        DiaObjects preloaded from the APDB around the detector (as
        `promptproc.apdb.load_dia_objects` returns), with at least
        ``diaObjectId``, ``ra``, ``dec`` (degrees) and ``nDiaSources``.
    visit, detector : `int`
        The detector-visit.
    band : `str`
        Band of the visit, e.g. ``r``.
    midpoint_mjd_tai : `float`
        Mid-exposure time, MJD (TAI).
    id_packer : `promptproc.ids.DiaIdPacker`
        Makes the DiaSource IDs from ``(visit, detector, row)``.
    config : `AssociationConfig`, optional
        Configuration; the defaults if not given.
    time_processed_mjd_tai : `float`, optional
        ``timeProcessedMjdTai`` of the rows; now if not given.

    Returns
    -------
    result : `AssociationResult`
        DiaSource and DiaObject rows for ``promptproc.apdb.store_visit`` and
        the counts.

    Raises
    ------
    promptproc.errors.BadInputError
        If the catalog or the objects lack a required column, hold values
        of the wrong type, or the catalog has more rows than IDs allow.
    promptproc.errors.ConfigurationError
        If the configuration is invalid.
    """
    config = config if config is not None else AssociationConfig()
    try:
        config.validate()
    except pex_config.FieldValidationError as err:
        raise ConfigurationError(f"invalid association configuration: {err}") from None
    if time_processed_mjd_tai is None:
        from astropy.time import Time

        time_processed_mjd_tai = float(Time.now().tai.mjd)
    columns = _source_columns(dia_sources)
    n_rows = len(dia_sources)
    indices = np.arange(n_rows, dtype=np.int64)
    source_ids = id_packer.pack_many(visit, detector, indices)
    good = _good_rows(columns)
    rejected = indices[~good]
    if rejected.size:
        _LOG.warning(
            "visit %d detector %d: rejected %d of %d DIA sources with bad coordinates (rows %s)",
            visit,
            detector,
            rejected.size,
            n_rows,
            ", ".join(str(i) for i in rejected[:10]) + (" ..." if rejected.size > 10 else ""),
        )
    columns = {name: values[good] for name, values in columns.items()}
    source_ids = source_ids[good]
    ra = np.mod(columns["ra"], 360.0)
    columns["ra"] = ra
    dec = columns["dec"]

    objects = _clean_objects(dia_objects)
    src_index, obj_index, distance = match_one_to_one(
        ra, dec, objects["ra"].to_numpy(float), objects["dec"].to_numpy(float), config.match_radius_arcsec
    )
    object_ids = source_ids.copy()
    match_distance = np.full(len(source_ids), np.nan)
    object_ids[src_index] = objects["diaObjectId"].to_numpy(np.int64)[obj_index]
    match_distance[src_index] = distance
    is_new = np.ones(len(source_ids), dtype=bool)
    is_new[src_index] = False

    flux = np.asarray(columns["psfFlux"], dtype=float)
    flux_err = np.asarray(columns["psfFluxErr"], dtype=float)
    updated = _updated_objects(
        objects.iloc[obj_index].reset_index(drop=True),
        ra[src_index],
        dec[src_index],
        flux[src_index],
        flux_err[src_index],
        band,
        midpoint_mjd_tai,
    )
    created = _new_objects(
        source_ids[is_new], ra[is_new], dec[is_new], flux[is_new], flux_err[is_new], band, midpoint_mjd_tai
    )
    object_columns = table_columns("DiaObject")
    object_rows = pd.concat(
        [make_table_frame(object_columns, updated), make_table_frame(object_columns, created)],
        ignore_index=True,
    )

    source_data: dict[str, Any] = {name: values for name, values in columns.items() if name not in _SET_HERE}
    source_data.setdefault("bboxSize", 0)
    source_data |= {
        "diaSourceId": source_ids,
        "diaObjectId": object_ids,
        "visit": visit,
        "detector": detector,
        "band": band,
        "midpointMjdTai": midpoint_mjd_tai,
        "timeProcessedMjdTai": time_processed_mjd_tai,
    }
    source_rows = make_table_frame(table_columns("DiaSource"), source_data)
    n_matched = int(src_index.size)
    _LOG.info(
        "visit %d detector %d: %d DIA sources, %d matched, %d new objects, %d rejected",
        visit,
        detector,
        len(source_rows),
        n_matched,
        int(is_new.sum()),
        rejected.size,
    )
    return AssociationResult(
        dia_sources=source_rows,
        dia_objects=object_rows,
        n_matched=n_matched,
        n_new=int(is_new.sum()),
        n_rejected=int(rejected.size),
        rejected_indices=rejected,
        match_distance_arcsec=match_distance,
    )


def match_one_to_one(
    src_ra: np.ndarray, src_dec: np.ndarray, obj_ra: np.ndarray, obj_dec: np.ndarray, radius_arcsec: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match sources to objects one-to-one, nearest pairs first.

    Parameters
    ----------
    src_ra, src_dec : `numpy.ndarray`
        Source positions, degrees.
    obj_ra, obj_dec : `numpy.ndarray`
        Object positions, degrees.
    radius_arcsec : `float`
        Largest separation of a match, arcseconds (inclusive).

    Returns
    -------
    src_index, obj_index : `numpy.ndarray`
        Positions of matched pairs in the inputs, sorted by source.
    distance_arcsec : `numpy.ndarray`
        Separation of each pair, arcseconds.

    Notes
    -----
    Every pair within the radius is a candidate (a k-d tree on unit
    vectors); pairs are then accepted in order of separation, ties broken by
    source then object position, while both members are free.  So a source
    takes its nearest free object, and of two sources near one object the
    nearer wins and the other may take its next-nearest or none.
    """
    from scipy.spatial import cKDTree

    empty = np.zeros(0, dtype=np.int64)
    if len(src_ra) == 0 or len(obj_ra) == 0:
        return empty, empty.copy(), np.zeros(0)
    chord = 2.0 * math.sin(0.5 * radius_arcsec * _ARCSEC)
    pairs = cKDTree(_unit_vectors(src_ra, src_dec)).sparse_distance_matrix(
        cKDTree(_unit_vectors(obj_ra, obj_dec)), chord, output_type="ndarray"
    )
    if pairs.size == 0:
        return empty, empty.copy(), np.zeros(0)
    order = np.lexsort((pairs["j"], pairs["i"], pairs["v"]))
    src_taken = np.zeros(len(src_ra), dtype=bool)
    obj_taken = np.zeros(len(obj_ra), dtype=bool)
    keep = []
    for k in order.tolist():
        i, j = int(pairs["i"][k]), int(pairs["j"][k])
        if not src_taken[i] and not obj_taken[j]:
            src_taken[i] = obj_taken[j] = True
            keep.append(k)
    chosen = pairs[np.asarray(keep, dtype=np.int64)]
    chosen = chosen[np.argsort(chosen["i"], kind="stable")]
    distance = 2.0 * np.arcsin(np.minimum(chosen["v"] / 2.0, 1.0)) / _ARCSEC
    return chosen["i"].astype(np.int64), chosen["j"].astype(np.int64), distance


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cos_dec = np.cos(dec)
    return np.column_stack((cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)))


def _from_unit_vectors(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.linalg.norm(vectors, axis=1)
    x, y, z = (vectors / norm[:, None]).T
    ra = np.mod(np.degrees(np.arctan2(y, x)), 360.0)
    dec = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    return ra, dec


def _source_columns(dia_sources: Table | pd.DataFrame) -> dict[str, np.ndarray]:
    """Read the catalog's one-dimensional columns as arrays, in the contract's units."""
    if isinstance(dia_sources, pd.DataFrame):
        dia_sources = Table.from_pandas(dia_sources)
    if not isinstance(dia_sources, Table):
        raise BadInputError(f"DIA sources must be an astropy Table, not {type(dia_sources).__name__}")
    missing = [name for name in REQUIRED_SOURCE_COLUMNS if name not in dia_sources.colnames]
    if missing:
        raise BadInputError(
            f"DIA source catalog lacks required column(s) {', '.join(missing)}"
            f" (has: {', '.join(dia_sources.colnames) or 'none'})"
        )
    out = {}
    for name in dia_sources.colnames:
        column = dia_sources[name]
        if column.ndim != 1:
            _LOG.debug("ignoring multi-dimensional DIA source column %s", name)
            continue
        out[name] = _column_values(column, name)
    for name in REQUIRED_SOURCE_COLUMNS:
        if out[name].dtype.kind not in "iuf":
            raise BadInputError(f"DIA source column {name} must be numeric, not {out[name].dtype}")
        out[name] = out[name].astype(float)
    return out


def _column_values(column: Any, name: str) -> np.ndarray:
    unit = getattr(column, "unit", None)
    if name in _UNITS and unit is not None and unit != u.dimensionless_unscaled:
        try:
            scale = float(u.Unit(unit).to(_UNITS[name]))
        except u.UnitConversionError:
            raise BadInputError(
                f"DIA source column {name} is in {unit}, not convertible to {_UNITS[name]}"
            ) from None
    else:
        scale = 1.0
    if hasattr(column, "mask") and np.any(column.mask):
        kind = column.dtype.kind
        values = column.filled(np.nan).astype(float) if kind in "iuf" else column.astype(object).filled(None)
    else:
        values = np.asarray(column)
    if scale != 1.0:
        values = values.astype(float) * scale
    return np.asarray(values)


def _good_rows(columns: dict[str, np.ndarray]) -> np.ndarray:
    good = np.ones(len(columns["ra"]), dtype=bool)
    for name in ("ra", "dec", "x", "y"):
        good &= np.isfinite(columns[name])
    with np.errstate(invalid="ignore"):
        good &= np.abs(columns["dec"]) <= 90.0
    return good


def _clean_objects(dia_objects: pd.DataFrame) -> pd.DataFrame:
    """Check the preloaded objects; drop unusable rows and duplicate IDs."""
    if len(dia_objects) == 0:
        return pd.DataFrame({name: np.zeros(0) for name in _REQUIRED_OBJECT_COLUMNS})
    missing = [name for name in _REQUIRED_OBJECT_COLUMNS if name not in dia_objects.columns]
    if missing:
        raise BadInputError(f"preloaded DiaObjects lack required column(s) {', '.join(missing)}")
    objects = dia_objects.reset_index(drop=True)
    ra = pd.to_numeric(objects["ra"], errors="coerce").to_numpy(float, na_value=np.nan)
    dec = pd.to_numeric(objects["dec"], errors="coerce").to_numpy(float, na_value=np.nan)
    usable = np.isfinite(ra) & np.isfinite(dec) & objects["diaObjectId"].notna().to_numpy()
    if not usable.all():
        _LOG.warning("ignoring %d preloaded DiaObjects without an ID or position", int((~usable).sum()))
        objects = objects[usable].reset_index(drop=True)
    duplicated = objects["diaObjectId"].duplicated(keep="last").to_numpy()
    if duplicated.any():
        _LOG.warning("ignoring %d duplicate preloaded DiaObject rows", int(duplicated.sum()))
        objects = objects[~duplicated].reset_index(drop=True)
    return objects


def _valid_flux(flux: np.ndarray, flux_err: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(flux) & np.isfinite(flux_err) & (flux_err > 0)


def _new_objects(
    ids: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    band: str,
    midpoint: float,
) -> dict[str, Any]:
    valid = _valid_flux(flux, flux_err)
    nan = np.full(len(ids), np.nan)
    return {
        "diaObjectId": ids,
        "validityStartMjdTai": midpoint,
        "ra": ra,
        "dec": dec,
        "nDiaSources": 1,
        "firstDiaSourceMjdTai": midpoint,
        "lastDiaSourceMjdTai": midpoint,
        f"{band}_psfFluxNdata": valid.astype(np.int64),
        f"{band}_psfFluxMean": np.where(valid, flux, nan),
        f"{band}_psfFluxMeanErr": np.where(valid, flux_err, nan),
        f"{band}_psfFluxSigma": nan,
        f"{band}_psfFluxMin": np.where(valid, flux, nan),
        f"{band}_psfFluxMax": np.where(valid, flux, nan),
        f"{band}_psfFluxErrMean": np.where(valid, flux_err, nan),
    }


def _updated_objects(
    objects: pd.DataFrame,
    ra: np.ndarray,
    dec: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    band: str,
    midpoint: float,
) -> pd.DataFrame:
    """New versions of matched objects: ``objects[k]`` gained source ``k``."""
    out = objects.copy()
    if len(out) == 0:
        return out
    n_old = _floats(out, "nDiaSources", 0.0)
    vectors = n_old[:, None] * _unit_vectors(_floats(out, "ra"), _floats(out, "dec")) + _unit_vectors(ra, dec)
    out["ra"], out["dec"] = _from_unit_vectors(vectors)
    out["nDiaSources"] = n_old.astype(np.int64) + 1
    out["validityStartMjdTai"] = midpoint
    out["validityEndMjdTai"] = np.nan
    out["lastDiaSourceMjdTai"] = midpoint
    out["firstDiaSourceMjdTai"] = np.where(
        np.isfinite(first := _floats(out, "firstDiaSourceMjdTai")), first, midpoint
    )
    for name, values in _updated_band_stats(out, flux, flux_err, band).items():
        out[name] = values
    return out


def _updated_band_stats(
    objects: pd.DataFrame, flux: np.ndarray, err: np.ndarray, band: str
) -> dict[str, np.ndarray]:
    prefix = f"{band}_psfFlux"
    n_data = _floats(objects, f"{prefix}Ndata", 0.0)
    mean = _floats(objects, f"{prefix}Mean")
    mean_err = _floats(objects, f"{prefix}MeanErr")
    sigma = _floats(objects, f"{prefix}Sigma")
    low = _floats(objects, f"{prefix}Min")
    high = _floats(objects, f"{prefix}Max")
    err_mean = _floats(objects, f"{prefix}ErrMean")
    valid = _valid_flux(flux, err)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = valid & ~((n_data > 0) & np.isfinite(mean) & np.isfinite(mean_err) & (mean_err > 0))
        more = valid & ~first
        weight_old = 1.0 / mean_err**2
        weight_new = 1.0 / err**2
        new_mean = (weight_old * mean + weight_new * flux) / (weight_old + weight_new)
        new_mean_err = 1.0 / np.sqrt(weight_old + weight_new)
        # Welford about the weighted mean: M2 = sigma^2 (n - 1).
        m2 = np.where(np.isfinite(sigma) & (n_data > 1), sigma**2 * (n_data - 1.0), 0.0)
        delta = flux - mean
        running = mean + delta / (n_data + 1.0)
        new_sigma = np.sqrt((m2 + delta * (flux - running)) / n_data)
        new_err_mean = np.where(np.isfinite(err_mean), (err_mean * n_data + err) / (n_data + 1.0), err)
    return {
        f"{prefix}Ndata": np.where(first, 1.0, np.where(more, n_data + 1.0, n_data)).astype(np.int64),
        f"{prefix}Mean": np.where(first, flux, np.where(more, new_mean, mean)),
        f"{prefix}MeanErr": np.where(first, err, np.where(more, new_mean_err, mean_err)),
        f"{prefix}Sigma": np.where(first, np.nan, np.where(more, new_sigma, sigma)),
        f"{prefix}Min": np.where(valid, np.fmin(low, flux), low),
        f"{prefix}Max": np.where(valid, np.fmax(high, flux), high),
        f"{prefix}ErrMean": np.where(first, err, np.where(more, new_err_mean, err_mean)),
    }


def _floats(frame: pd.DataFrame, name: str, fill: float = np.nan) -> np.ndarray:
    """A column as float64 with nulls as ``fill``; all ``fill`` if absent."""
    if name not in frame.columns:
        return np.full(len(frame), fill)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), fill, values)
