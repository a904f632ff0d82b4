"""Alert packaging: one Avro packet per DiaSource of a detector-visit.

`run` is pure: it takes the rows association made, the DiaSource history
preloaded from the APDB and the images, and returns validated packets in the
official schema.  Sending them is the export phase's job, through an
`promptproc.alerts.AlertSink`, after the APDB store (see the exactly-once
strategy in ``promptproc.alerts._sinks``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import lsst.pex.config as pex_config
import pandas as pd

from ..alerts import AlertSchema, CutoutMaker, build_alerts, load_alert_schema
from ..errors import ConfigurationError
from ..image import Exposure

__all__ = ["AlertsConfig", "AlertsResult", "run"]

_LOG = logging.getLogger(__name__)


class AlertsConfig(pex_config.Config):
    """Configuration of alert packaging."""

    schema_version = pex_config.Field(
        dtype=str,
        default="",
        doc="Alert schema version MAJOR.MINOR from lsst-alert-packet; empty for the latest shipped.",
    )
    min_cutout_size = pex_config.RangeField(
        dtype=int, default=30, min=1, max=1000, doc="Smallest cutout side, pixels."
    )
    max_cutout_size = pex_config.RangeField(
        dtype=int,
        default=102,
        min=1,
        max=1000,
        doc="Largest cutout side, pixels (Rubin: a 10 deg/day trail in 30 s plus the PSF).",
    )
    validate_packets = pex_config.Field(
        dtype=bool, default=True, doc="Check every packet against the schema before returning it."
    )

    def validate(self) -> None:
        """Check that the cutout sizes are ordered."""
        super().validate()
        if self.min_cutout_size > self.max_cutout_size:
            raise pex_config.FieldValidationError(
                AlertsConfig.min_cutout_size, self, "min_cutout_size must not exceed max_cutout_size"
            )


@dataclasses.dataclass(frozen=True)
class AlertsResult:
    """The packets of one detector-visit.

    Attributes
    ----------
    alerts : `list` [`dict`]
        One packet per DiaSource, in DiaSource order; ``diaSourceId`` is the
        alert ID.
    schema : `promptproc.alerts.AlertSchema`
        Their schema.
    """

    alerts: list[dict[str, Any]]
    schema: AlertSchema

    @property
    def n_alerts(self) -> int:
        """Number of packets."""
        return len(self.alerts)


def run(
    dia_sources: pd.DataFrame,
    dia_objects: pd.DataFrame,
    *,
    difference: Exposure,
    science: Exposure | None = None,
    template: Exposure | None = None,
    history: pd.DataFrame | None = None,
    config: AlertsConfig | None = None,
    observation_reason: str | None = None,
    target_name: str | None = None,
) -> AlertsResult:
    """Build the alert packets of one detector-visit.

    Parameters
    ----------
    dia_sources : `pandas.DataFrame`
        APDB DiaSource rows of the visit (`AssociationResult.dia_sources`).
    dia_objects : `pandas.DataFrame`
        Their DiaObjects as stored this visit (`AssociationResult.dia_objects`).
    difference : `promptproc.image.Exposure`
        The difference image.
    science : `promptproc.image.Exposure`, optional
        The calibrated science image.
    template : `promptproc.image.Exposure`, optional
        The template warped to the science image.
    history : `pandas.DataFrame`, optional
        Earlier DiaSources of the objects
        (`promptproc.apdb.load_dia_source_history`); without it
        ``prvDiaSources`` is null.
    config : `AlertsConfig`, optional
        Configuration; the defaults if not given.
    observation_reason, target_name : `str`, optional
        Scheduler reason and target of the visit.

    Returns
    -------
    result : `AlertsResult`
        Validated packets.

    Raises
    ------
    promptproc.alerts.AlertPacketError
        If the rows cannot fill the schema.
    promptproc.errors.ConfigurationError
        If the configuration is invalid or names a schema not installed.
    """
    config = config if config is not None else AlertsConfig()
    try:
        config.validate()
    except pex_config.FieldValidationError as err:
        raise ConfigurationError(f"invalid alert configuration: {err}") from None
    schema = load_alert_schema(config.schema_version or None)
    cutouts = CutoutMaker(
        difference, science, template, min_size=config.min_cutout_size, max_size=config.max_cutout_size
    )
    alerts = build_alerts(
        dia_sources,
        dia_objects,
        schema,
        history=history,
        cutouts=cutouts,
        observation_reason=observation_reason,
        target_name=target_name,
        validate=config.validate_packets,
    )
    _LOG.info("built %d alert packets (schema %d.%d)", len(alerts), *schema.version)
    return AlertsResult(alerts=alerts, schema=schema)
