"""An instrument: camera geometry, filters, identifiers and raw file names.

The instrument is plain data so that it can be stored in a Butler repository
(the ``camera`` dataset) and read back by a worker: everything a worker needs
to predict where a detector lands on the sky, and to name and recognise raws.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadInputError
from ._geometry import AmplifierGeometry, BoundingBox, DetectorGeometry

__all__ = ["FilterInfo", "Instrument", "RawKey"]

# Exposure IDs pack the observing day and sequence number as day_obs * 10**5 + seq_num,
# the convention of the Rubin cameras, so an ID is readable at a glance.
_SEQ_NUM_FACTOR = 100_000


@dataclass(frozen=True)
class FilterInfo:
    """A physical filter.

    Parameters
    ----------
    name : `str`
        Physical filter name as the Butler knows it.
    band : `str`
        Abstract band (``g``, ``r``, ``i`` ...), shared by instruments.
    zero_point : `float`
        AB magnitude of a source giving 1 electron per second, at airmass 1.
    extinction : `float`
        Atmospheric extinction, magnitudes per airmass.
    """

    name: str
    band: str
    zero_point: float
    extinction: float = 0.0


@dataclass(frozen=True)
class RawKey:
    """The parts of a raw's object-store key.

    Parameters
    ----------
    instrument : `str`
        Instrument name.
    day_obs : `int`
        Observing day, ``YYYYMMDD``.
    seq_num : `int`
        Sequence number within the day.
    obs_id : `str`
        Observation ID, e.g. ``SC_O_20261122_000042``.
    detector_name : `str`
        Detector name, e.g. ``R22_S11``.
    detector : `int`
        Detector number.
    extension : `str`
        File extension, including the dot (``.fits``).
    """

    instrument: str
    day_obs: int
    seq_num: int
    obs_id: str
    detector_name: str
    detector: int
    extension: str = ".fits"

    @property
    def exposure_id(self) -> int:
        """The exposure ID: ``day_obs * 100000 + seq_num``."""
        return self.day_obs * _SEQ_NUM_FACTOR + self.seq_num

    @property
    def key(self) -> str:
        """The object key of the raw."""
        prefix = f"{self.instrument}/{self.day_obs}/{self.obs_id}/{self.obs_id}_{self.detector_name}"
        return prefix + self.extension

    @property
    def sidecar_key(self) -> str:
        """The object key of the JSON sidecar written next to the raw."""
        return f"{self.instrument}/{self.day_obs}/{self.obs_id}/{self.obs_id}_{self.detector_name}.json"


@dataclass(frozen=True)
class Instrument:
    """An instrument: camera, filters and naming conventions.

    Parameters
    ----------
    name : `str`
        Instrument name (Butler ``instrument`` dimension).
    obs_id_prefix : `str`
        Two-letter prefix of observation IDs (``SC`` for SimCam).
    pixel_scale : `float`
        Nominal plate scale, arcseconds per pixel.
    detectors : `tuple` [`DetectorGeometry`, ...]
        Detectors ordered by ID.
    filters : `tuple` [`FilterInfo`, ...]
        Physical filters.
    controller : `str`
        Observation-ID controller code (``O`` for on-sky operations).
    """

    name: str
    obs_id_prefix: str
    pixel_scale: float
    detectors: tuple[DetectorGeometry, ...]
    filters: tuple[FilterInfo, ...]
    controller: str = "O"
    _by_id: dict[int, DetectorGeometry] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, DetectorGeometry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {d.id: d for d in self.detectors})
        object.__setattr__(self, "_by_name", {d.name: d for d in self.detectors})

    # --- detectors and filters -------------------------------------------------------

    @property
    def detector_max(self) -> int:
        """One more than the largest detector ID."""
        return max(self._by_id) + 1

    @property
    def exposure_max(self) -> int:
        """Upper bound on exposure and visit IDs (years up to 9999)."""
        return 99_991_231 * _SEQ_NUM_FACTOR + _SEQ_NUM_FACTOR - 1

    def detector(self, key: int | str) -> DetectorGeometry:
        """Return a detector by ID or name.

        Raises
        ------
        BadInputError
            If the instrument has no such detector.
        """
        found = self._by_id.get(key) if isinstance(key, int) else self._by_name.get(str(key))
        if found is None:
            raise BadInputError(f"{self.name} has no detector {key!r}")
        return found

    def filter(self, name: str) -> FilterInfo:
        """Return a physical filter by name.

        Raises
        ------
        BadInputError
            If the instrument has no such filter.
        """
        for info in self.filters:
            if info.name == name:
                return info
        known = ", ".join(f.name for f in self.filters)
        raise BadInputError(f"{self.name} has no physical filter {name!r} (known: {known})")

    # --- identifiers -----------------------------------------------------------------

    def obs_id(self, day_obs: int, seq_num: int) -> str:
        """Observation ID of an exposure, ``{prefix}_{controller}_{day_obs}_{seq_num:06d}``."""
        return f"{self.obs_id_prefix}_{self.controller}_{day_obs}_{seq_num:06d}"

    @staticmethod
    def exposure_id(day_obs: int, seq_num: int) -> int:
        """Exposure (and visit) ID, ``day_obs * 100000 + seq_num``."""
        if not 0 <= seq_num < _SEQ_NUM_FACTOR:
            raise BadInputError(f"sequence number {seq_num} is out of range 0..{_SEQ_NUM_FACTOR - 1}")
        return day_obs * _SEQ_NUM_FACTOR + seq_num

    @staticmethod
    def split_exposure_id(exposure_id: int) -> tuple[int, int]:
        """Return ``(day_obs, seq_num)`` of an exposure ID."""
        return divmod(exposure_id, _SEQ_NUM_FACTOR)

    def raw_key(self, day_obs: int, seq_num: int, detector: int | str) -> RawKey:
        """The object-store key of a raw (DESIGN §3.2)."""
        det = self.detector(detector)
        return RawKey(
            instrument=self.name,
            day_obs=day_obs,
            seq_num=seq_num,
            obs_id=self.obs_id(day_obs, seq_num),
            detector_name=det.name,
            detector=det.id,
        )

    def parse_raw_key(self, key: str) -> RawKey:
        """Parse an object-store key into its parts.

        Parameters
        ----------
        key : `str`
            ``{instrument}/{day_obs}/{obs_id}/{obs_id}_{detector_name}.fits``; a
            leading ``/`` or bucket prefix up to the instrument name is not allowed.

        Raises
        ------
        BadInputError
            If the key does not follow the convention, names another
            instrument, or an unknown detector.
        """
        pattern = re.compile(
            r"^(?P<instrument>[^/]+)/(?P<day_obs>\d{8})/"
            r"(?P<obs_id>(?P<prefix>[A-Z]+)_(?P<controller>[A-Z])_(?P<day2>\d{8})_(?P<seq>\d{6}))/"
            r"(?P=obs_id)_(?P<detector>[A-Za-z0-9]+_[A-Za-z0-9]+)(?P<ext>\.fits(?:\.fz|\.gz)?)$"
        )
        match = pattern.match(key)
        if match is None:
            raise BadInputError(
                f"object key {key!r} does not follow {{instrument}}/{{day_obs}}/{{obs_id}}/..."
            )
        if match["instrument"] != self.name:
            raise BadInputError(
                f"object key {key!r} is for instrument {match['instrument']!r}, not {self.name}"
            )
        if match["day_obs"] != match["day2"] or match["prefix"] != self.obs_id_prefix:
            raise BadInputError(f"object key {key!r} has an inconsistent observation ID")
        det = self.detector(match["detector"])
        return RawKey(
            instrument=self.name,
            day_obs=int(match["day_obs"]),
            seq_num=int(match["seq"]),
            obs_id=match["obs_id"],
            detector_name=det.name,
            detector=det.id,
            extension=match["ext"],
        )

    # --- serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for JSON."""
        return {
            "name": self.name,
            "obs_id_prefix": self.obs_id_prefix,
            "controller": self.controller,
            "pixel_scale": self.pixel_scale,
            "filters": [asdict(f) for f in self.filters],
            "detectors": [
                {
                    **{k: v for k, v in asdict(d).items() if k != "amplifiers"},
                    "amplifiers": [
                        {
                            **{k: v for k, v in asdict(a).items() if k != "data_box"},
                            "data_box": asdict(a.data_box),
                        }
                        for a in d.amplifiers
                    ],
                }
                for d in self.detectors
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instrument:
        """Rebuild an instrument from `to_dict` output.

        Raises
        ------
        BadInputError
            If a field is missing or has the wrong type.
        """
        try:
            detectors = tuple(
                DetectorGeometry(
                    id=int(d["id"]),
                    name=str(d["name"]),
                    width=int(d["width"]),
                    height=int(d["height"]),
                    origin=(float(d["origin"][0]), float(d["origin"][1])),
                    purpose=str(d.get("purpose", "SCIENCE")),
                    serial=str(d.get("serial", "")),
                    amplifiers=tuple(
                        AmplifierGeometry(
                            name=str(a["name"]),
                            index=int(a["index"]),
                            data_box=BoundingBox(**{k: int(v) for k, v in a["data_box"].items()}),
                            overscan_columns=int(a["overscan_columns"]),
                            gain=float(a["gain"]),
                            read_noise=float(a["read_noise"]),
                            saturation=float(a["saturation"]),
                            flip_x=bool(a.get("flip_x", False)),
                        )
                        for a in d["amplifiers"]
                    ),
                )
                for d in data["detectors"]
            )
            return cls(
                name=str(data["name"]),
                obs_id_prefix=str(data["obs_id_prefix"]),
                controller=str(data.get("controller", "O")),
                pixel_scale=float(data["pixel_scale"]),
                detectors=detectors,
                filters=tuple(FilterInfo(**f) for f in data["filters"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise BadInputError(f"invalid instrument description: {err!r}") from err

    def to_json(self) -> str:
        """JSON text of `to_dict`."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Instrument:
        """Rebuild an instrument from `to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadInputError(f"instrument description is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise BadInputError("instrument description must be a JSON object")
        return cls.from_dict(data)
