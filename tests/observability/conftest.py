import logging
from collections.abc import Iterator

import pytest

_LOGGERS = ("", "lsst", "promptproc", "promptproc.timer", "other", "lsst.daf.butler", "py.warnings")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what configure_logging does to the process-wide logging state."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {name: logging.getLogger(name or None).level for name in _LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    logging.captureWarnings(False)
