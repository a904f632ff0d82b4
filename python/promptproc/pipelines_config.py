"""Which pipelines run for a visit: the ``*_PIPELINES_CONFIG`` settings.

A pipelines config is a YAML list of nodes, tried in order; the first node
whose constraints all hold for the visit gives the pipelines to run, in
priority order (the next one is tried only when the previous one cannot be
built).  This is the format of Rubin Prompt Processing's ``PipelinesConfig``,
so a deployment's values carry over::

    - survey: BLOCK-365
      pipelines:
      - ${PROMPT_PROCESSING_DIR}/pipelines/LSSTCam/ApPipe.yaml
      - ${PROMPT_PROCESSING_DIR}/pipelines/LSSTCam/SingleFrame.yaml
    - {survey: "", pipelines: []}
    - pipelines: []

Node keys:

``pipelines`` (required)
    List of pipeline files; ``[]``, ``null`` or ``None`` means "run nothing".
    ``$VAR`` / ``${VAR}`` are substituted from the variables given to the
    parser, relative paths are taken relative to a base directory, and the
    file names (without suffix) must be unique within the node because they
    name the output runs.
``survey``
    Matches only a visit whose survey is exactly this string (``""`` matches
    only visits without a survey).
``ra``, ``dec``
    ``{min, max}`` in degrees, inclusive.  An RA range wraps through 0 when
    ``min > max``; a Dec range needs ``min < max``.  A visit without a position
    never matches a node with a spatial constraint.
``coord-type``
    ``detector`` (default; the centre of the detector) or ``boresight``: which
    position the spatial constraints test.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigurationError, PromptprocError

__all__ = [
    "AngleRange",
    "NoMatchingPipelinesError",
    "PipelinesConfig",
    "PipelinesNode",
]

_NODE_KEYS = frozenset({"pipelines", "survey", "ra", "dec", "coord-type"})
_UNSUPPORTED_KEYS = {
    "binary-map": "HEALPix binary-map constraints are not supported; use ra/dec ranges or survey",
}
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")

CoordType = Literal["detector", "boresight"]


class NoMatchingPipelinesError(PromptprocError, LookupError):
    """No node of a pipelines config matches a visit."""


@dataclass(frozen=True)
class AngleRange:
    """An inclusive range of angles in degrees.

    Parameters
    ----------
    min : `float`
        Lower end, degrees.
    max : `float`
        Upper end, degrees.  For right ascension a range with ``min > max``
        wraps through 0 (e.g. 350 to 10).
    wraps : `bool`
        Whether the range is on the circle (right ascension) rather than a line
        (declination).
    """

    min: float
    max: float
    wraps: bool = False

    def contains(self, angle: float) -> bool:
        """Say whether an angle lies in the range.

        Parameters
        ----------
        angle : `float`
            Angle in degrees; for a wrapping range it is reduced to [0, 360).

        Returns
        -------
        inside : `bool`
            `True` if the angle is within the range, ends included.
        """
        if not self.wraps:
            return self.min <= angle <= self.max
        angle %= 360.0
        if self.min <= self.max:
            return self.min <= angle <= self.max
        return angle >= self.min or angle <= self.max


@dataclass(frozen=True)
class PipelinesNode:
    """One node of a pipelines config: constraints and the pipelines they select.

    Parameters
    ----------
    pipelines : `tuple` [`pathlib.Path`, ...]
        Pipeline files in priority order; empty means "run nothing".
    survey : `str`, optional
        Exact survey a visit must have; `None` for any survey.
    ra, dec : `AngleRange`, optional
        Spatial constraints on the position chosen by ``coord_type``.
    coord_type : {"detector", "boresight"}
        Which position the spatial constraints test.
    """

    pipelines: tuple[Path, ...]
    survey: str | None = None
    ra: AngleRange | None = None
    dec: AngleRange | None = None
    coord_type: CoordType = "detector"

    @property
    def is_spatial(self) -> bool:
        """Whether the node constrains the visit's position."""
        return self.ra is not None or self.dec is not None

    def matches(
        self,
        survey: str,
        *,
        boresight: tuple[float, float] | None = None,
        detector_center: tuple[float, float] | None = None,
    ) -> bool:
        """Say whether a visit satisfies every constraint of this node.

        Parameters
        ----------
        survey : `str`
            The visit's survey (``""`` when it has none).
        boresight : `tuple` [`float`, `float`], optional
            (RA, Dec) of the telescope boresight in degrees.
        detector_center : `tuple` [`float`, `float`], optional
            (RA, Dec) of the centre of the visit's detector in degrees.

        Returns
        -------
        matches : `bool`
            `True` if the node applies to the visit.
        """
        if self.survey is not None and survey != self.survey:
            return False
        if not self.is_spatial:
            return True
        position = boresight if self.coord_type == "boresight" else detector_center
        if position is None:
            return False
        ra, dec = position
        if self.ra is not None and not self.ra.contains(ra):
            return False
        return self.dec is None or self.dec.contains(dec)


class PipelinesConfig:
    """An ordered list of `PipelinesNode`; the first matching node wins.

    Parameters
    ----------
    nodes : `~collections.abc.Sequence` [`PipelinesNode`]
        The nodes, in the order they are tried; at least one.
    source : `str`, optional
        The YAML text the nodes were parsed from, kept for display.

    Raises
    ------
    ConfigurationError
        Raised if ``nodes`` is empty.
    """

    def __init__(self, nodes: Sequence[PipelinesNode], source: str = "") -> None:
        if not nodes:
            raise ConfigurationError("a pipelines config needs at least one node")
        self._nodes = tuple(nodes)
        self._source = source

    @property
    def nodes(self) -> tuple[PipelinesNode, ...]:
        """The nodes in the order they are tried."""
        return self._nodes

    @property
    def source(self) -> str:
        """The YAML text the config was parsed from (empty if built in code)."""
        return self._source

    def __repr__(self) -> str:
        return f"PipelinesConfig({list(self._nodes)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PipelinesConfig):
            return NotImplemented
        return self._nodes == other._nodes

    def __hash__(self) -> int:
        return hash(self._nodes)

    @classmethod
    def from_yaml(
        cls,
        text: str,
        *,
        name: str = "pipelines config",
        variables: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> PipelinesConfig:
        """Parse a pipelines config from its YAML text.

        Parameters
        ----------
        text : `str`
            YAML list of nodes (see the module documentation).
        name : `str`, optional
            What the text is called in error messages, normally the
            environment variable it came from.
        variables : `~collections.abc.Mapping` [`str`, `str`], optional
            Values substituted for ``$VAR`` / ``${VAR}`` in pipeline paths; a
            variable not in the mapping is an error.
        base_dir : `pathlib.Path`, optional
            Directory that relative pipeline paths are relative to; the
            working directory by default.

        Returns
        -------
        config : `PipelinesConfig`
            The parsed config.

        Raises
        ------
        ConfigurationError
            Raised with a one-line reason naming ``name`` if the text is not
            YAML, not a non-empty list of nodes, or a node is invalid.
        """
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigurationError(f"{name} is not valid YAML: {_yaml_reason(err)}") from None
        if not isinstance(data, list):
            kind = "empty" if data is None else f"a {type(data).__name__}"
            raise ConfigurationError(f"{name} must be a YAML list of nodes, not {kind}")
        if not data:
            raise ConfigurationError(f"{name} must list at least one node")
        base = base_dir if base_dir is not None else Path.cwd()
        nodes = [
            _parse_node(node, where=f"{name} node {index}", variables=variables or {}, base_dir=base)
            for index, node in enumerate(data, start=1)
        ]
        return cls(nodes, source=text)

    def match(
        self,
        survey: str,
        *,
        boresight: tuple[float, float] | None = None,
        detector_center: tuple[float, float] | None = None,
    ) -> PipelinesNode:
        """Return the first node that matches a visit.

        Parameters
        ----------
        survey : `str`
            The visit's survey (``""`` when it has none).
        boresight : `tuple` [`float`, `float`], optional
            (RA, Dec) of the boresight in degrees, if the visit has a position.
        detector_center : `tuple` [`float`, `float`], optional
            (RA, Dec) of the detector centre in degrees, if known.

        Returns
        -------
        node : `PipelinesNode`
            The first matching node.

        Raises
        ------
        NoMatchingPipelinesError
            Raised if no node matches.
        """
        for node in self._nodes:
            if node.matches(survey, boresight=boresight, detector_center=detector_center):
                return node
        raise NoMatchingPipelinesError(
            f"no pipelines config node matches survey {survey!r} at boresight {boresight}"
        )

    def select(
        self,
        survey: str,
        *,
        boresight: tuple[float, float] | None = None,
        detector_center: tuple[float, float] | None = None,
    ) -> tuple[Path, ...]:
        """Return the pipeline files to try for a visit, in priority order.

        Parameters
        ----------
        survey : `str`
            The visit's survey (``""`` when it has none).
        boresight : `tuple` [`float`, `float`], optional
            (RA, Dec) of the boresight in degrees, if the visit has a position.
        detector_center : `tuple` [`float`, `float`], optional
            (RA, Dec) of the detector centre in degrees, if known.

        Returns
        -------
        pipelines : `tuple` [`pathlib.Path`, ...]
            The pipelines of the first matching node; empty means the visit
            is to be ignored.

        Raises
        ------
        NoMatchingPipelinesError
            Raised if no node matches.
        """
        return self.match(survey, boresight=boresight, detector_center=detector_center).pipelines

    def all_pipeline_files(self) -> tuple[Path, ...]:
        """Return every pipeline file named by any node, without repeats.

        Returns
        -------
        pipelines : `tuple` [`pathlib.Path`, ...]
            The files in order of first appearance.
        """
        return tuple(dict.fromkeys(path for node in self._nodes for path in node.pipelines))


def _yaml_reason(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def _parse_node(node: Any, *, where: str, variables: Mapping[str, str], base_dir: Path) -> PipelinesNode:
    if not isinstance(node, dict):
        raise ConfigurationError(f"{where} must be a mapping with a 'pipelines' key, not {node!r}")
    for key in node:
        if key in _UNSUPPORTED_KEYS:
            raise ConfigurationError(f"{where}: {_UNSUPPORTED_KEYS[key]}")
    unknown = sorted(str(key) for key in node if key not in _NODE_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_NODE_KEYS))
        raise ConfigurationError(f"{where} has unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
    if "pipelines" not in node:
        raise ConfigurationError(f"{where} has no 'pipelines' key (use 'pipelines: []' to run nothing)")
    pipelines = _parse_pipelines(node["pipelines"], where=where, variables=variables, base_dir=base_dir)
    survey = node.get("survey")
    if survey is not None and not isinstance(survey, str):
        raise ConfigurationError(f"{where}: survey must be a string, not {survey!r}")
    ra = _parse_range(node["ra"], where=f"{where} ra", wraps=True) if "ra" in node else None
    dec = _parse_range(node["dec"], where=f"{where} dec", wraps=False) if "dec" in node else None
    coord_type = str(node.get("coord-type", "detector")).lower()
    if coord_type not in ("detector", "boresight"):
        raise ConfigurationError(f"{where}: coord-type must be 'detector' or 'boresight', not {coord_type!r}")
    return PipelinesNode(
        pipelines=pipelines, survey=survey, ra=ra, dec=dec, coord_type=typing.cast(CoordType, coord_type)
    )


def _parse_pipelines(
    value: Any, *, where: str, variables: Mapping[str, str], base_dir: Path
) -> tuple[Path, ...]:
    if value is None or value == "None":
        return ()
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}: pipelines must be a list of files, not {value!r}")
    paths: list[Path] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{where}: pipeline entries must be file paths, not {item!r}")
        path = Path(_substitute(item.strip(), where=where, variables=variables))
        paths.append(path if path.is_absolute() else base_dir / path)
    stems = [path.stem for path in paths]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise ConfigurationError(
            f"{where}: pipeline file names must be unique because they name the output runs; "
            f"repeated: {', '.join(repeated)}"
        )
    return tuple(paths)


def _substitute(text: str, *, where: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        variable = match.group("braced") or match.group("bare")
        if variable not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise ConfigurationError(
                f"{where}: undefined variable ${variable} in {text!r} (defined: {known})"
            )
        return variables[variable]

    return _VARIABLE.sub(replace, text)


def _parse_range(value: Any, *, where: str, wraps: bool) -> AngleRange:
    if not isinstance(value, dict) or set(value) != {"min", "max"}:
        raise ConfigurationError(f"{where} must be a mapping with exactly 'min' and 'max', not {value!r}")
    low, high = value["min"], value["max"]
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ConfigurationError(f"{where}: min and max must be numbers in degrees, not {bound!r}")
    if wraps:
        if not (0.0 <= low <= 360.0 and 0.0 <= high <= 360.0):
            raise ConfigurationError(f"{where}: min and max must be within 0 and 360 degrees")
    else:
        if not (-90.0 <= low <= 90.0 and -90.0 <= high <= 90.0):
            raise ConfigurationError(f"{where}: min and max must be within -90 and 90 degrees")
        if low >= high:
            raise ConfigurationError(f"{where}: min ({low}) must be less than max ({high})")
    return AngleRange(float(low), float(high), wraps=wraps)
