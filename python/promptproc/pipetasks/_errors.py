"""How the science errors of promptproc become the quantum outcomes pipe_base knows.

- `~promptproc.tasks.errors.CalibrationFailure` becomes a
  `CalibrationAlgorithmError` (an `~lsst.pipe.base.AlgorithmError`); the
  ``calibrate`` task first writes a ``visit_summary`` naming the failed step
  and raises it through `~lsst.pipe.base.AnnotatedPartialOutputsError`.  The
  quantum fails and its downstream quanta are blocked (with
  ``raise_on_partial_outputs=False``: a qualified success, downstream quanta
  find no work).
- `~promptproc.tasks.errors.SubtractionError` becomes a
  `SubtractionAlgorithmError`: the quantum fails.
- `~promptproc.errors.BadInputError` (a calibration that does not match the
  raw, a table without a needed column, a packet the schema refuses) becomes
  an `InputDataError`, a repeatable problem of the data: the quantum fails.
- `~promptproc.tasks.errors.TemplateCoverageError` becomes a
  `TemplateCoverageNoWork` (a `~lsst.pipe.base.NoWorkFound`): nothing is
  written, it is not a failure, and downstream quanta find no work.
- `~promptproc.errors.ConfigurationError` becomes an
  `~lsst.pipe.base.InvalidQuantumError`: the quantum fails.

Anything else (e.g. `~promptproc.errors.ServiceUnavailableError` from the APDB)
propagates unchanged, so the worker can tell a retriable failure from the
outcome (`promptproc.pipetasks.QuantumOutcome.error`).  Every re-raised error
chains the original one (``raise ... from err``) and carries its metadata; a
`ScienceAlgorithmError` also keeps it as ``science_error``, because the
executor re-raises the error behind an
`~lsst.pipe.base.AnnotatedPartialOutputsError` ``from None``, which drops the
chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lsst.pipe.base import AlgorithmError, InvalidQuantumError, NoWorkFound

from ..errors import BadInputError, ConfigurationError
from ..tasks.errors import CalibrationFailure, SubtractionError, TemplateCoverageError

__all__ = [
    "CalibrationAlgorithmError",
    "InputDataError",
    "ScienceAlgorithmError",
    "SubtractionAlgorithmError",
    "TemplateCoverageNoWork",
    "science_errors",
]


class ScienceAlgorithmError(AlgorithmError):
    """A science step gave no trustworthy result; retrying will not help.

    Parameters
    ----------
    message : `str`
        One line for the operator, naming the task and the reason.
    science_error : `Exception`, optional
        The exception of the science code.
    **metadata
        `str`, `int`, `float` or `bool` values describing the failure; they
        are recorded in the task metadata and the quantum report.

    Attributes
    ----------
    science_error : `Exception` or `None`
        The exception of the science code.
    """

    def __init__(self, message: str, science_error: Exception | None = None, **metadata: Any) -> None:
        super().__init__(message)
        self.science_error = science_error
        self._metadata = {key: value for key, value in metadata.items() if value is not None}

    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata describing the failure."""
        return self._metadata


class CalibrationAlgorithmError(ScienceAlgorithmError):
    """Single-frame calibration failed (``metadata``: ``step``, ``reason``)."""


class SubtractionAlgorithmError(ScienceAlgorithmError):
    """PSF matching or image subtraction failed (``metadata``: ``reason``)."""


class InputDataError(ScienceAlgorithmError):
    """The inputs cannot be processed as they are (mismatched shapes, missing columns...)."""


class TemplateCoverageNoWork(NoWorkFound):
    """The template covers too little of the detector to subtract; nothing was written."""


@contextmanager
def science_errors(label: str) -> Iterator[None]:
    """Translate the science exceptions raised inside the block (see the module notes).

    Parameters
    ----------
    label : `str`
        Name of the step, for the messages, e.g. ``"calibrate"``.

    Yields
    ------
    None
        Run the science inside the ``with`` block.
    """
    try:
        yield
    except CalibrationFailure as err:
        raise CalibrationAlgorithmError(
            f"{label}: {err}", err, step=err.step, reason=err.reason, task=label
        ) from err
    except SubtractionError as err:
        raise SubtractionAlgorithmError(f"{label}: {err}", err, reason=err.reason, task=label) from err
    except TemplateCoverageError as err:
        raise TemplateCoverageNoWork(f"{label}: {err}") from err
    except BadInputError as err:
        raise InputDataError(f"{label}: {err}", err, error=type(err).__name__, task=label) from err
    except ConfigurationError as err:
        raise InvalidQuantumError(f"{label}: invalid configuration: {err}") from err
