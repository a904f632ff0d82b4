"""Dimension records of an instrument and a sky map, inserted idempotently."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lsst.daf.butler import Butler
from lsst.daf.butler.registry import ConflictingDefinitionError

from ..errors import ConfigurationError
from ..instrument import Instrument
from ..skymap import SkyMap

__all__ = ["INSTRUMENT_CLASS_NAME", "VISIT_SYSTEMS", "register_instrument", "register_skymap"]

_LOG = logging.getLogger(__name__)

INSTRUMENT_CLASS_NAME = "promptproc.instrument.Instrument"
"""``class_name`` of our instrument records; nothing in the middleware imports it
unless a pipeline names an instrument, and then it finds our class."""

VISIT_SYSTEMS: dict[int, str] = {0: "one-to-one", 1: "by-group-metadata"}
"""Visit systems of the default universe, as obs_base numbers them; visits are one-to-one."""


def _sync(butler: Butler, element: str, record: dict[str, Any], what: str) -> bool:
    try:
        return bool(butler.registry.syncDimensionData(element, record))
    except ConflictingDefinitionError as err:
        raise ConfigurationError(
            f"{what} is already registered with a different definition: {str(err).splitlines()[0]}"
        ) from None


def register_instrument(butler: Butler, instrument: Instrument) -> bool:
    """Insert the records of an instrument, its detectors, filters and visit systems.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    instrument : `promptproc.instrument.Instrument`
        The instrument.

    Returns
    -------
    inserted : `bool`
        `True` if the instrument was new; `False` if it was already
        registered identically (missing detector or filter records are still
        added).

    Raises
    ------
    promptproc.errors.ConfigurationError
        If an instrument of that name is registered with different limits.
    """
    inserted = _sync(
        butler,
        "instrument",
        {
            "name": instrument.name,
            "visit_max": instrument.exposure_max,
            "exposure_max": instrument.exposure_max,
            "detector_max": instrument.detector_max,
            "visit_system": 0,
            "class_name": INSTRUMENT_CLASS_NAME,
        },
        f"instrument {instrument.name}",
    )
    registry = butler.registry
    with registry.transaction():
        registry.insertDimensionData(
            "physical_filter",
            *({"instrument": instrument.name, "name": f.name, "band": f.band} for f in instrument.filters),
            skip_existing=True,
        )
        registry.insertDimensionData(
            "detector",
            *(
                {
                    "instrument": instrument.name,
                    "id": det.id,
                    "full_name": det.name,
                    "name_in_raft": det.sensor,
                    "raft": det.raft,
                    "purpose": det.purpose,
                }
                for det in instrument.detectors
            ),
            skip_existing=True,
        )
        registry.insertDimensionData(
            "visit_system",
            *({"instrument": instrument.name, "id": i, "name": n} for i, n in VISIT_SYSTEMS.items()),
            skip_existing=True,
        )
    _LOG.info("instrument %s %s", instrument.name, "registered" if inserted else "was already registered")
    return inserted


def register_skymap(butler: Butler, skymap: SkyMap, tracts: Iterable[int]) -> int:
    """Insert a sky map and the tracts and patches in use, with their regions.

    Only the given tracts (with all their patches) are registered, not the
    whole sky, so a small repository stays small; call again with more tracts
    as the survey grows.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    skymap : `promptproc.skymap.SkyMap`
        The sky map.
    tracts : iterable of `int`
        IDs of the tracts to register.

    Returns
    -------
    patches : `int`
        Number of patch records of those tracts (new or already there).

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a sky map of that name is registered with another definition.
    """
    nx_max, ny_max = skymap.max_patches
    _sync(
        butler,
        "skymap",
        {
            "name": skymap.name,
            "hash": skymap.hash(),
            "tract_max": skymap.num_tracts,
            "patch_nx_max": nx_max,
            "patch_ny_max": ny_max,
        },
        f"sky map {skymap.name}",
    )
    tract_records = []
    patch_records = []
    for tract_id in sorted(set(tracts)):
        tract = skymap.tract(tract_id)
        tract_records.append({"skymap": skymap.name, "id": tract.id, "region": tract.region()})
        for py in range(tract.patches_y):
            for px in range(tract.patches_x):
                patch = tract.patch((px, py))
                patch_records.append(
                    {
                        "skymap": skymap.name,
                        "tract": tract.id,
                        "id": patch.id,
                        "cell_x": px,
                        "cell_y": py,
                        "region": patch.region(),
                    }
                )
    registry = butler.registry
    with registry.transaction():
        if tract_records:
            registry.insertDimensionData("tract", *tract_records, skip_existing=True)
        if patch_records:
            registry.insertDimensionData("patch", *patch_records, skip_existing=True)
    _LOG.info("sky map %s: %d tracts, %d patches", skymap.name, len(tract_records), len(patch_records))
    return len(patch_records)
