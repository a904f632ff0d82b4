"""Alert packets in the official Rubin Avro schema, their cutouts, and where they go.

Packets are built by `build_alerts` (see ``promptproc.tasks.alerts`` for the
task), validated against the schema lsst-alert-packet ships
(`load_alert_schema`), and handed to an `AlertSink`: a `FileAlertSink` (one
Avro file per detector-visit, the embedded default) or a `KafkaAlertSink`
(Confluent wire format, idempotent producer).  `read_alerts` reads either
back.  The exactly-once strategy is described in ``promptproc.alerts._sinks``.
"""

from ._cutouts import CutoutMaker, cutout_fits
from ._packet import CONFLUENT_MAGIC, CutoutFunction, build_alerts, decode_confluent, encode_confluent
from ._read import read_alerts
from ._schema import AlertPacketError, AlertSchema, FieldSpec, load_alert_schema
from ._sinks import AlertDeliveryError, AlertSink, FileAlertSink, KafkaAlertSink, alert_file_name

__all__ = [
    "CONFLUENT_MAGIC",
    "AlertDeliveryError",
    "AlertPacketError",
    "AlertSchema",
    "AlertSink",
    "CutoutFunction",
    "CutoutMaker",
    "FieldSpec",
    "FileAlertSink",
    "KafkaAlertSink",
    "alert_file_name",
    "build_alerts",
    "cutout_fits",
    "decode_confluent",
    "encode_confluent",
    "load_alert_schema",
    "read_alerts",
]
