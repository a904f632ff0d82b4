"""In-memory types and Butler formatters of the pipeline products that are ours.

- `RegionTime` (storage class ``PromptRegionTime``, JSON): the predicted sky
  region and time span of a detector-visit, written by the worker before the
  raws arrive; the preprocessing pipeline preloads the APDB with it.
- `AlertPackets` (storage class ``PromptAlertPackets``, Avro container file):
  the alert packets of one detector-visit, built by the ``alerts`` task and
  sent by the worker's export phase once the APDB holds the visit's rows.

Both storage classes are declared in every repository's ``butler.yaml``
(`promptproc.repo.storage_config`) by the dotted names
``promptproc.pipetasks.RegionTime``, ``RegionTimeFormatter``,
``AlertPackets`` and ``AlertPacketsFormatter``; keep them importable there.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from astropy.time import Time, TimeDelta
from lsst.daf.butler import FormatterV2, Timespan
from lsst.resources import ResourcePath
from lsst.sphgeom import Region

from ..alerts import AlertSchema, load_alert_schema
from ..errors import BadInputError
from ..repo import CorruptDatasetError

if TYPE_CHECKING:
    from ..instrument import Instrument
    from ..visit import FannedOutVisit

__all__ = ["AlertPackets", "AlertPacketsFormatter", "RegionTime", "RegionTimeFormatter"]

_REGION_TIME_VERSION = 1
_SCHEMA_VERSION_KEY = "promptproc.alert_schema_version"


@dataclass(frozen=True)
class RegionTime:
    """Where and when a detector will observe, known before its raw exists.

    Parameters
    ----------
    region : `lsst.sphgeom.Region`
        Predicted sky footprint of the detector, padded for pointing errors.
    timespan : `lsst.daf.butler.Timespan`
        When the detector observes (TAI); its end bounds the DIA source
        history the preload reads.
    """

    region: Region
    timespan: Timespan

    @classmethod
    def for_visit(cls, visit: FannedOutVisit, instrument: Instrument, padding_arcsec: float) -> RegionTime:
        """The region and time of a fanned-out visit.

        Parameters
        ----------
        visit : `promptproc.visit.FannedOutVisit`
            The next-visit event of one detector.
        instrument : `promptproc.instrument.Instrument`
            Its camera.
        padding_arcsec : `float`
            Margin around the predicted footprint (``PRELOAD_PADDING``).

        Returns
        -------
        region_time : `RegionTime`
            The padded footprint and ``[startTime, startTime + duration]``.

        Raises
        ------
        promptproc.visit.UnsupportedCoordinatesError
            If the visit's position is not on the sky.
        """
        begin = Time(visit.startTime, format="unix_tai", scale="tai")
        end = begin + TimeDelta(max(float(visit.duration), 0.0), format="sec")
        return cls(visit.footprint(instrument, padding_arcsec), Timespan(begin, end))

    @property
    def midpoint(self) -> Time:
        """Middle of the time span (TAI)."""
        begin, end = self.timespan.begin, self.timespan.end
        return begin + 0.5 * (end - begin)

    def to_json(self) -> str:
        """Serialise to JSON (the region as base64 `lsst.sphgeom.Region.encode` bytes).

        Returns
        -------
        text : `str`
            ``{"version", "region", "begin_mjd_tai", "end_mjd_tai", "begin", "end"}``;
            ``begin``/``end`` are ISO TAI strings for people, the MJDs are read.
        """
        begin, end = self.timespan.begin.tai, self.timespan.end.tai
        return json.dumps(
            {
                "version": _REGION_TIME_VERSION,
                "region": base64.b64encode(self.region.encode()).decode("ascii"),
                "begin_mjd_tai": float(begin.mjd),
                "end_mjd_tai": float(end.mjd),
                "begin": begin.isot,
                "end": end.isot,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RegionTime:
        """Read what `to_json` wrote.

        Parameters
        ----------
        text : `str` or `bytes`
            The JSON document.

        Returns
        -------
        region_time : `RegionTime`
            The region and time span.

        Raises
        ------
        promptproc.errors.BadInputError
            If the document is not a region and time of this version.
        """
        try:
            data = json.loads(text)
            if data.get("version") != _REGION_TIME_VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            region = Region.decode(base64.b64decode(data["region"], validate=True))
            begin = Time(float(data["begin_mjd_tai"]), format="mjd", scale="tai")
            end = Time(float(data["end_mjd_tai"]), format="mjd", scale="tai")
            return cls(region, Timespan(begin, end))
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise BadInputError(f"not a region and time: {err}") from err


@dataclass
class AlertPackets:
    """The alert packets of one detector-visit.

    Parameters
    ----------
    alerts : `list` [`dict`]
        Packets in the official schema, one per DiaSource, in DiaSource order.
    schema_version : `tuple` [`int`, `int`]
        ``(major, minor)`` of their lsst-alert-packet schema.
    """

    alerts: list[dict[str, Any]] = field(default_factory=list)
    schema_version: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.schema_version = (int(self.schema_version[0]), int(self.schema_version[1]))

    @classmethod
    def from_schema(cls, alerts: list[dict[str, Any]], schema: AlertSchema) -> AlertPackets:
        """Packets built with a loaded schema.

        Parameters
        ----------
        alerts : `list` [`dict`]
            The packets.
        schema : `promptproc.alerts.AlertSchema`
            Their schema.

        Returns
        -------
        packets : `AlertPackets`
            The packets and the schema version.
        """
        return cls(list(alerts), schema.version)

    @property
    def schema(self) -> AlertSchema:
        """The packets' schema, loaded from lsst-alert-packet."""
        return load_alert_schema(self.schema_version)

    @property
    def dia_source_ids(self) -> list[int]:
        """``diaSourceId`` of every packet (the alert IDs), in order."""
        return [int(alert["diaSourceId"]) for alert in self.alerts]

    def __len__(self) -> int:
        return len(self.alerts)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.alerts)

    def to_bytes(self) -> bytes:
        """Write an Avro container file: the schema, its version and every packet.

        Returns
        -------
        data : `bytes`
            The file; `promptproc.alerts.read_alerts` reads it too.
        """
        import fastavro

        buffer = io.BytesIO()
        version = ".".join(str(part) for part in self.schema_version)
        fastavro.writer(buffer, self.schema.parsed, self.alerts, metadata={_SCHEMA_VERSION_KEY: version})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AlertPackets:
        """Read what `to_bytes` wrote.

        Parameters
        ----------
        data : `bytes`
            An Avro container file of alert packets.

        Returns
        -------
        packets : `AlertPackets`
            The packets and their schema version.

        Raises
        ------
        promptproc.errors.BadInputError
            If the data are not an alert container file of ours.
        """
        import fastavro

        try:
            reader = fastavro.reader(io.BytesIO(data))
            version_text = reader.metadata.get(_SCHEMA_VERSION_KEY)
            if version_text is None:
                raise ValueError(f"no {_SCHEMA_VERSION_KEY} in the file metadata")
            major, minor = (int(part) for part in version_text.split("."))
            alerts = list(reader)
        except (EOFError, ValueError, TypeError, KeyError, OSError) as err:
            raise BadInputError(f"not an alert packet file: {err!r}") from err
        return cls(alerts, (major, minor))  # type: ignore[arg-type]


class _BytesFormatter(FormatterV2):
    """Objects that serialise to bytes, read from any URI in one piece."""

    can_read_from_uri = True
    unsupported_parameters = None
    _WHAT: ClassVar[str] = "object"
    # Each subclass names the function that rebuilds its object from the file's bytes.
    _READER: ClassVar[Callable[[bytes], Any]]

    def read_from_uri(self, uri: ResourcePath, component: str | None = None, expected_size: int = -1) -> Any:
        data = uri.read()
        try:
            return type(self)._READER(data)
        except BadInputError as err:
            name = self.dataset_ref.datasetType.name
            raise CorruptDatasetError(f"cannot read {name} ({self._WHAT}): {uri}: {err}") from err


class RegionTimeFormatter(_BytesFormatter):
    """Read and write `RegionTime` as JSON."""

    default_extension = ".json"
    supported_extensions = frozenset({".json"})
    _WHAT = "region and time"
    _READER = RegionTime.from_json

    def to_bytes(self, in_memory_dataset: Any) -> bytes:
        return in_memory_dataset.to_json().encode()


class AlertPacketsFormatter(_BytesFormatter):
    """Read and write `AlertPackets` as an Avro container file."""

    default_extension = ".avro"
    supported_extensions = frozenset({".avro"})
    _WHAT = "alert packets"
    _READER = AlertPackets.from_bytes

    def to_bytes(self, in_memory_dataset: Any) -> bytes:
        return in_memory_dataset.to_bytes()
