"""Errors about visits, each a `~promptproc.errors.PromptprocError`."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import BadInputError, PromptprocError

__all__ = ["InvalidVisitError", "UnsupportedCoordinatesError"]


class InvalidVisitError(BadInputError):
    """A visit event is malformed: a field is missing, ill-typed or out of range.

    Parameters
    ----------
    message : `str`
        One-line explanation naming the offending fields.
    fields : iterable [`str`], optional
        Names of the offending fields, in the order the message gives them;
        empty when the event as a whole is malformed (not JSON, no data).

    Notes
    -----
    A service driver answers it with HTTP 400 and the message as detail.
    """

    def __init__(self, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)


class UnsupportedCoordinatesError(PromptprocError):
    """A well-formed visit whose pointing cannot be put on the sky.

    Raised when a sky position or rotation is asked of a visit whose
    ``coordinateSystem`` is not ICRS or whose ``rotationSystem`` is not SKY.
    The visit itself is valid, so this is not a `BadInputError`; a worker
    has nothing to predict for it and normally skips it (HTTP 422).
    """
