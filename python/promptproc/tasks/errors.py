"""Exceptions of the science tasks: a step that cannot produce a trustworthy result.

Each carries the step and a one-line reason for the operator; the pipeline
wrappers turn them into a failed quantum (no retry helps: the data are the
same next time).
"""

from __future__ import annotations

from ..errors import PromptprocError

__all__ = ["CalibrationFailure", "SubtractionError", "TemplateCoverageError"]


class CalibrationFailure(PromptprocError):  # noqa: N818 (the name the pipeline contract uses)
    """Single-frame calibration (PSF, astrometry, photometry) failed.

    Parameters
    ----------
    step : `str`
        ``"background"``, ``"psf"``, ``"cosmic_rays"``, ``"astrometry"`` or
        ``"photometry"``.
    reason : `str`
        What went wrong, with the numbers that show it.
    """

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step} calibration failed: {reason}")
        self.step = step
        self.reason = reason


class TemplateCoverageError(PromptprocError):
    """The template does not cover enough of the science exposure.

    Parameters
    ----------
    coverage : `float`
        Fraction of science pixels with template data, 0-1.
    reason : `str`
        Explanation.
    """

    def __init__(self, coverage: float, reason: str) -> None:
        super().__init__(f"template coverage {coverage:.3f}: {reason}")
        self.coverage = coverage
        self.reason = reason


class SubtractionError(PromptprocError):
    """PSF matching or image subtraction could not be done.

    Parameters
    ----------
    reason : `str`
        What went wrong.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"image subtraction failed: {reason}")
        self.reason = reason
