"""Look-up of instruments by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError
from ._instrument import Instrument
from ._simcam import SIMCAM_NAME, make_simcam

__all__ = ["get_instrument", "known_instruments"]

_FACTORIES: dict[str, Callable[..., Instrument]] = {SIMCAM_NAME: make_simcam}


def known_instruments() -> list[str]:
    """Names of the instruments promptproc can build."""
    return sorted(_FACTORIES)


def get_instrument(name: str, **options: Any) -> Instrument:
    """Build an instrument by name.

    Parameters
    ----------
    name : `str`
        Instrument name, e.g. ``SimCam``.
    **options
        Passed to the instrument's factory (``detector_size`` for SimCam).

    Raises
    ------
    ConfigurationError
        If no instrument has that name.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigurationError(f"unknown instrument {name!r}; known: {', '.join(known_instruments())}")
    return factory(**options)
