"""Logging with visit context, phase timers and Prometheus metrics.

- `configure_logging`: one JSON object a line on stderr (or text for
  humans), levels from ``SERVICE_LOG_LEVELS``; call it at start-up.
- `visit_context`: fields (``instrument``, ``day_obs``, ``group``,
  ``detector``, ``visit``, ``phase``) every log line inside a block carries.
- `PhaseTimer`: logs and keeps how long each phase of a visit took.
- `create_metrics`: the worker's Prometheus metrics on their own registry;
  `metrics_exposition` renders them for ``/metrics``.

Importing this package configures nothing and registers nothing.
"""

from ._context import CONTEXT_FIELDS, current_context, visit_context, with_current_context
from ._logging import (
    DEFAULT_LOG_LEVELS,
    TRACE,
    VERBOSE,
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    parse_log_levels,
)
from ._metrics import (
    PHASE_BUCKETS,
    RAW_WAIT_BUCKETS,
    VISIT_OUTCOMES,
    Metrics,
    create_metrics,
    metrics_exposition,
    serve_metrics,
)
from ._timer import PhaseTimer

__all__ = [
    "CONTEXT_FIELDS",
    "DEFAULT_LOG_LEVELS",
    "PHASE_BUCKETS",
    "RAW_WAIT_BUCKETS",
    "TRACE",
    "VERBOSE",
    "VISIT_OUTCOMES",
    "ContextFilter",
    "JsonFormatter",
    "Metrics",
    "PhaseTimer",
    "TextFormatter",
    "configure_logging",
    "create_metrics",
    "current_context",
    "metrics_exposition",
    "parse_log_levels",
    "serve_metrics",
    "visit_context",
    "with_current_context",
]
