"""Butler formatters and storage-class delegates for promptproc's own types.

Every formatter here is a `lsst.daf.butler.FormatterV2`:

- `ExposureFormatter`: `~promptproc.image.Exposure` as multi-extension FITS
  (`~promptproc.image.write_exposure_fits`); it reads the ``wcs``,
  ``visitInfo``, ``photoCalib`` and ``psf`` components from the headers (and
  the small ``PSF`` extension) without reading the pixels.
- `RawImageFormatter`: `~promptproc.image.RawImage` as the camera writes it;
  the ``metadata`` component is the primary header alone.
- `SkyMapFormatter` and `CameraFormatter`: `~promptproc.skymap.SkyMap` and
  `~promptproc.instrument.Instrument` as JSON.

A damaged file raises `CorruptDatasetError`, which ``Butler.get`` passes to
the caller unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from lsst.daf.butler import FormatterV2, StorageClassDelegate
from lsst.resources import ResourcePath

from ..errors import BadInputError
from ..image import (
    Exposure,
    ImagePsf,
    PhotoCalib,
    RawImage,
    VisitInfo,
    read_exposure_fits,
    read_raw_fits,
    write_exposure_fits,
    write_raw_fits,
)
from ..instrument import BoundingBox, Instrument
from ..skymap import SkyMap
from ._errors import CorruptDatasetError

__all__ = [
    "CameraFormatter",
    "ExposureDelegate",
    "ExposureFormatter",
    "RawImageDelegate",
    "RawImageFormatter",
    "SkyMapFormatter",
]


def _corrupt(formatter: FormatterV2, path: str, err: Exception, kind: str) -> CorruptDatasetError:
    """A one-line error naming the dataset type, what it should be and the file."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if path not in reason:
        reason = f"{path}: {reason}"
    name = formatter.dataset_ref.datasetType.name
    return CorruptDatasetError(f"cannot read {name} ({kind}): {reason}")


class _AttributeDelegate(StorageClassDelegate):
    """A delegate whose components are attributes under other names."""

    _ATTRIBUTES: ClassVar[Mapping[str, str]] = {}

    def getComponent(self, composite: Any, componentName: str) -> Any:
        attr = self._ATTRIBUTES.get(componentName)
        if attr is None:
            return super().getComponent(composite, componentName)
        return getattr(composite, attr)


class ExposureDelegate(_AttributeDelegate):
    """Components and parameters of the ``PromptExposure`` storage class.

    Components use the Rubin names (``visitInfo``, ``photoCalib``) of the
    snake-case attributes of `~promptproc.image.Exposure`.  The ``bbox``
    parameter, a `~promptproc.instrument.BoundingBox` or an
    ``(x0, y0, width, height)`` tuple, returns that cutout.
    """

    _ATTRIBUTES: ClassVar[Mapping[str, str]] = {
        "image": "image",
        "mask": "mask",
        "variance": "variance",
        "wcs": "wcs",
        "psf": "psf",
        "photoCalib": "photo_calib",
        "visitInfo": "visit_info",
        "metadata": "metadata",
    }

    def assemble(self, components: dict[str, Any], pytype: type | None = None) -> Any:
        kwargs = {attr: components[name] for name, attr in self._ATTRIBUTES.items() if name in components}
        if "image" not in kwargs:
            raise ValueError("an exposure cannot be assembled without its image")
        return Exposure(**kwargs)

    def handleParameters(self, inMemoryDataset: Any, parameters: Mapping[str, Any] | None = None) -> Any:
        if not parameters:
            return inMemoryDataset
        bbox = parameters.get("bbox")
        if bbox is None:
            return inMemoryDataset
        if not isinstance(bbox, BoundingBox):
            bbox = BoundingBox(*(int(v) for v in bbox))
        return inMemoryDataset.cutout(bbox.x0, bbox.y0, bbox.width, bbox.height)

    def copy(self, inMemoryDataset: Any) -> Any:
        return inMemoryDataset.copy()


class RawImageDelegate(_AttributeDelegate):
    """Components of the ``PromptRawImage`` storage class (``metadata``: the header)."""

    _ATTRIBUTES: ClassVar[Mapping[str, str]] = {"metadata": "header"}


class ExposureFormatter(FormatterV2):
    """Read and write `~promptproc.image.Exposure` as multi-extension FITS."""

    default_extension = ".fits"
    supported_extensions = frozenset({".fits"})
    can_read_from_local_file = True
    can_read_from_uri = True
    # Parameters (``bbox``) are left to `ExposureDelegate`.
    unsupported_parameters = None

    _HEADER_COMPONENTS = frozenset({"wcs", "visitInfo", "photoCalib", "psf"})

    def read_from_uri(self, uri: ResourcePath, component: str | None = None, expected_size: int = -1) -> Any:
        # Header components of a remote file are read with ranged reads, not
        # a download of the pixels; everything else goes through a local file.
        if component not in self._HEADER_COMPONENTS:
            return NotImplemented
        try:
            with uri.open("rb") as handle:
                return self._read_component(handle, str(uri), component)
        except BadInputError as err:
            raise _corrupt(self, str(uri), err, "exposure") from err

    def read_from_local_file(self, path: str, component: str | None = None, expected_size: int = -1) -> Any:
        try:
            if component in self._HEADER_COMPONENTS:
                return self._read_component(path, path, component)
            exposure = read_exposure_fits(path)
        except BadInputError as err:
            raise _corrupt(self, path, err, "exposure") from err
        if component is None:
            return exposure
        return ExposureDelegate(self.file_descriptor.storageClass).getComponent(exposure, component)

    @staticmethod
    def _read_component(source: Any, path: str, component: str) -> Any:
        """Read one small component from headers (and the small PSF HDU) only."""
        try:
            with fits.open(source, memmap=False, lazy_load_hdus=True) as hdus:
                primary = hdus[0].header
                if component == "visitInfo":
                    return VisitInfo.from_header(primary)
                if component == "photoCalib":
                    if "PHOTCAL" not in primary:
                        return None
                    return PhotoCalib(float(primary["PHOTCAL"]), float(primary.get("PHOTCERR", 0.0)))
                if component == "wcs":
                    header = hdus["IMAGE"].header
                    if "CTYPE1" not in header:
                        return None
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", FITSFixedWarning)
                        return WCS(header, naxis=2)
                # psf
                if "PSF" not in hdus:
                    return None
                hdu = hdus["PSF"]
                return ImagePsf(np.asarray(hdu.data, dtype=float), float(hdu.header["FWHM"]))
        except (OSError, ValueError, TypeError, KeyError, IndexError, MemoryError) as err:
            raise BadInputError(f"{path}: cannot read component {component} ({err})") from err

    def write_local_file(self, in_memory_dataset: Any, uri: ResourcePath) -> None:
        write_exposure_fits(in_memory_dataset, uri.ospath)


class RawImageFormatter(FormatterV2):
    """Read and write `~promptproc.image.RawImage` files (one HDU per amplifier)."""

    default_extension = ".fits"
    supported_extensions = frozenset({".fits"})
    can_read_from_local_file = True
    unsupported_parameters = None

    def read_from_local_file(self, path: str, component: str | None = None, expected_size: int = -1) -> Any:
        try:
            if component == "metadata":
                try:
                    with fits.open(path, memmap=False) as hdus:
                        return hdus[0].header.copy()
                except (OSError, ValueError, TypeError, IndexError) as err:
                    raise BadInputError(f"{path}: not a readable FITS file ({err})") from err
            raw = read_raw_fits(path)
        except BadInputError as err:
            raise _corrupt(self, path, err, "raw image") from err
        if component is None:
            return raw
        return RawImageDelegate(self.file_descriptor.storageClass).getComponent(raw, component)

    def write_local_file(self, in_memory_dataset: Any, uri: ResourcePath) -> None:
        if not isinstance(in_memory_dataset, RawImage):
            raise TypeError(f"expected a RawImage, not {type(in_memory_dataset).__name__}")
        write_raw_fits(in_memory_dataset, uri.ospath)


class _JsonFormatter(FormatterV2):
    """Objects with ``to_json``/``from_json`` as JSON text."""

    default_extension = ".json"
    supported_extensions = frozenset({".json"})
    can_read_from_uri = True
    unsupported_parameters = None
    _WHAT: ClassVar[str] = "object"
    # Each subclass names the ``from_json`` that rebuilds its object.
    _READER: ClassVar[Callable[[bytes], Any]]

    def read_from_uri(self, uri: ResourcePath, component: str | None = None, expected_size: int = -1) -> Any:
        data = uri.read()
        try:
            return type(self)._READER(data)
        except (BadInputError, UnicodeDecodeError) as err:
            raise _corrupt(self, str(uri), err, self._WHAT) from err

    def to_bytes(self, in_memory_dataset: Any) -> bytes:
        return in_memory_dataset.to_json().encode()


class SkyMapFormatter(_JsonFormatter):
    """Read and write `~promptproc.skymap.SkyMap` as JSON."""

    _WHAT = "sky map"
    _READER = SkyMap.from_json


class CameraFormatter(_JsonFormatter):
    """Read and write `~promptproc.instrument.Instrument` (the ``camera``) as JSON."""

    _WHAT = "camera"
    _READER = Instrument.from_json
