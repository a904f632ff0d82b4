"""Ingest of one raw into a local repository, checked against the visit it should belong to.

Only the primary header is read (not the pixels): it is checked against the
visit (instrument, detector, group, physical filter), the exposure and visit
dimension records are made from it, and the file is ingested with a
dataset ID fixed by its data ID and RUN, so ingesting the same raw again
(a redelivered visit) finds it and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from astropy.io import fits
from lsst.daf.butler import Butler, DatasetRef, FileDataset
from lsst.resources import ResourcePath, ResourcePathExpression

from ..errors import BadInputError, ConfigurationError
from ..image import RAW_PRIMARY_KEYS
from ..instrument import Instrument
from ._ingest import deterministic_ref
from ._names import RAW, raw_run
from ._visit_records import VisitRecords, visit_records_from_header, write_visit_records

if TYPE_CHECKING:
    from ..visit import FannedOutVisit

__all__ = [
    "RAW_TRANSFER_MODES",
    "RawIngestResult",
    "RawMismatchError",
    "check_raw_header",
    "ingest_raw",
    "read_raw_header",
]

_LOG = logging.getLogger(__name__)

RAW_TRANSFER_MODES = ("copy", "move", "direct", "link", "hardlink", "symlink", "relsymlink", "auto")
"""How a raw file gets into the local datastore (``direct`` leaves it where it is)."""


class RawMismatchError(BadInputError):
    """A raw's header disagrees with the visit it was delivered for.

    Parameters
    ----------
    message : `str`
        The explanation.
    field : `str`
        The visit field that disagrees (``instrument``, ``detector``,
        ``groupId`` or ``filters``).
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RawIngestResult:
    """What `ingest_raw` did.

    Attributes
    ----------
    ref : `lsst.daf.butler.DatasetRef`
        The raw in the local repository.
    records : `VisitRecords`
        The dimension records made from the header.
    ingested : `bool`
        `False` if the raw was already there (nothing was done).
    inserted_records : `int`
        Dimension records that were new.
    """

    ref: DatasetRef
    records: VisitRecords
    ingested: bool
    inserted_records: int


@contextmanager
def _local_file(path: ResourcePathExpression) -> Iterator[tuple[ResourcePath, ResourcePath]]:
    """Yield ``(original, local)`` URIs; a remote file is downloaded to a temporary file."""
    uri = ResourcePath(path, forceDirectory=False)
    if uri.isLocal:
        yield uri, uri
        return
    try:
        with uri.as_local() as local:
            yield uri, local
    except FileNotFoundError:
        raise BadInputError(f"raw {uri} does not exist") from None


def read_raw_header(path: ResourcePathExpression) -> fits.Header:
    """Read the primary header of a local raw file.

    Parameters
    ----------
    path : `str` or `lsst.resources.ResourcePath`
        A local file.

    Returns
    -------
    header : `astropy.io.fits.Header`
        The primary header.

    Raises
    ------
    promptproc.errors.BadInputError
        If the file is missing, is not FITS, or lacks a card of
        `promptproc.image.RAW_PRIMARY_KEYS`.
    """
    uri = ResourcePath(path, forceDirectory=False)
    name = str(uri.ospath)
    try:
        header = fits.getheader(name, 0)
    except FileNotFoundError:
        raise BadInputError(f"raw {name} does not exist") from None
    except (OSError, ValueError, TypeError, IndexError) as err:
        raise BadInputError(f"raw {name} is not a readable FITS file: {err}") from None
    missing = [key for key in RAW_PRIMARY_KEYS if key not in header]
    if missing:
        raise BadInputError(f"raw {name}: header lacks {', '.join(missing)}")
    return header


def check_raw_header(
    header: fits.Header, visit: FannedOutVisit, instrument: Instrument, source: str = "raw"
) -> None:
    """Check that a raw belongs to a visit.

    Parameters
    ----------
    header : `astropy.io.fits.Header`
        The raw's primary header.
    visit : `promptproc.visit.FannedOutVisit`
        The visit the raw was delivered for.
    instrument : `promptproc.instrument.Instrument`
        The camera, to check the detector name against the number.
    source : `str`, optional
        Name of the file, for messages.

    Raises
    ------
    RawMismatchError
        If the instrument, detector, group or physical filter differ; the
        message and ``field`` name the first that does.
    """

    def mismatch(card: str, value: object, field: str, expected: object) -> RawMismatchError:
        return RawMismatchError(
            f"{source}: header {card} = {value!r} does not match the visit's {field} {expected!r}", field
        )

    if str(header.get("INSTRUME", "")).strip() != visit.instrument:
        raise mismatch("INSTRUME", header.get("INSTRUME"), "instrument", visit.instrument)
    try:
        detector = int(header["DETNUM"])
    except (KeyError, TypeError, ValueError):
        raise mismatch("DETNUM", header.get("DETNUM"), "detector", visit.detector) from None
    if detector != visit.detector:
        raise mismatch("DETNUM", detector, "detector", visit.detector)
    expected_name = instrument.detector(visit.detector).name
    if str(header.get("DETECTOR", "")).strip() != expected_name:
        raise mismatch("DETECTOR", header.get("DETECTOR"), "detector", expected_name)
    if str(header.get("GROUPID", "")).strip() != visit.groupId:
        raise mismatch("GROUPID", header.get("GROUPID"), "groupId", visit.groupId)
    if str(header.get("FILTER", "")).strip() != visit.filters:
        raise mismatch("FILTER", header.get("FILTER"), "filters", visit.filters)


def ingest_raw(
    butler: Butler,
    path: ResourcePathExpression,
    visit: FannedOutVisit,
    instrument: Instrument,
    transfer: str = "copy",
    run: str | None = None,
) -> RawIngestResult:
    """Check a raw against its visit, register its dimension records and ingest it.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        The writeable local repository, with the instrument records and the
        ``raw`` dataset type registered.
    path : `str` or `lsst.resources.ResourcePath`
        The raw: a local file or a remote URI (downloaded first unless
        ``transfer`` is ``direct``).
    visit : `promptproc.visit.FannedOutVisit`
        The visit it was delivered for.
    instrument : `promptproc.instrument.Instrument`
        The camera (``camera`` dataset).
    transfer : `str`, optional
        One of `RAW_TRANSFER_MODES`; ``direct`` records the file's URI without
        copying it (and cleanup will not delete it).
    run : `str`, optional
        RUN collection; ``{instrument}/raw/all`` by default.

    Returns
    -------
    result : `RawIngestResult`
        The dataset and what was done.

    Raises
    ------
    RawMismatchError
        If the header does not belong to the visit; nothing is written.
    promptproc.errors.BadInputError
        If the file is missing or unreadable, a header card is malformed, or
        another raw with the same exposure was registered with other values.
    promptproc.errors.ConfigurationError
        For an unknown transfer mode.
    """
    if transfer not in RAW_TRANSFER_MODES:
        raise ConfigurationError(
            f"unknown raw transfer mode {transfer!r}; use one of {', '.join(RAW_TRANSFER_MODES)}"
        )
    run = run or raw_run(instrument.name)
    with _local_file(path) as (original, local):
        source = str(original)
        header = read_raw_header(local)
        check_raw_header(header, visit, instrument, source)
        records = visit_records_from_header(header, instrument, source)
        inserted = write_visit_records(butler, records)
        ref = deterministic_ref(butler, RAW, records.data_id, run)
        if butler.registry.getDataset(ref.id) is not None:
            _LOG.info("raw %s is already ingested as %s", source, ref.dataId)
            return RawIngestResult(ref, records, False, inserted)
        if transfer == "direct" or local is original:
            file, mode = original, transfer
        else:
            # The download is a temporary file: copy it in (the original stays where it is).
            file, mode = local, "copy"
        butler.ingest(FileDataset(path=file, refs=[ref]), transfer=mode)
    _LOG.info("ingested raw %s as %s (transfer %s)", source, ref.dataId, transfer)
    return RawIngestResult(ref, records, True, inserted)
