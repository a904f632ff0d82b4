import io
import json
import logging
import warnings

import pytest

from promptproc.errors import ConfigurationError
from promptproc.observability import (
    TRACE,
    VERBOSE,
    JsonFormatter,
    configure_logging,
    parse_log_levels,
    visit_context,
)
from promptproc.settings import Settings


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_context() -> None:
    stream = io.StringIO()
    configure_logging({"log_format": "json", "rubin_instrument": "SimCam"}, stream=stream)
    log = logging.getLogger("promptproc.activator")
    log.info("outside")
    outer = visit_context(day_obs=20261121, group="2026-11-22T03:00:00.123", detector=4)
    with outer, visit_context(visit=2026112100042, phase="ingest"):
        log.info("Ingested %d raw", 1, extra={"seconds": 1.25, "key": "SimCam/a.fits"})
    outside, inside = lines(stream)
    assert list(outside)[:4] == ["time", "level", "logger", "message"]
    assert outside["message"] == "outside"
    assert outside["level"] == "INFO"
    assert outside["logger"] == "promptproc.activator"
    assert outside["instrument"] == "SimCam"
    assert "group" not in outside
    assert outside["time"].endswith("Z")
    assert len(outside["time"]) == len("2026-11-22T03:00:00.123Z")
    assert inside["message"] == "Ingested 1 raw"
    for name, value in {
        "instrument": "SimCam",
        "day_obs": 20261121,
        "group": "2026-11-22T03:00:00.123",
        "detector": 4,
        "visit": 2026112100042,
        "phase": "ingest",
        "seconds": 1.25,
        "key": "SimCam/a.fits",
    }.items():
        assert inside[name] == value
    # Context fields come in their standard order, before the extras.
    keys = list(inside)
    assert keys.index("instrument") < keys.index("day_obs") < keys.index("phase") < keys.index("seconds")


def test_exceptions_odd_values_and_bad_formats_stay_one_json_line() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    log = logging.getLogger("promptproc.test")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("Failed")
    log.warning("odd", extra={"ids": {3, 1, 2}, "ratio": float("nan"), "obj": object(), "level": "x"})
    failure, odd = lines(stream)
    assert failure["level"] == "ERROR"
    assert failure["message"] == "Failed"
    assert "ValueError: bad" in failure["exception"]
    assert failure["exception"].startswith("Traceback")
    assert odd["ids"] == [1, 2, 3]
    assert odd["ratio"] == "nan"
    assert odd["obj"].startswith("<object object")
    assert odd["level"] == "WARNING"
    assert odd["extra_level"] == "x"
    assert len(stream.getvalue().splitlines()) == 2
    # A message whose arguments do not match its format still gives a line.
    wrong = logging.LogRecord("promptproc.test", logging.WARNING, "f", 1, "wrong %d format", ("x",), None)
    assert "wrong %d format" in json.loads(JsonFormatter().format(wrong))["message"]


def test_levels_are_honoured() -> None:
    stream = io.StringIO()
    configure_logging(log_levels="lsst=INFO .=WARNING promptproc=DEBUG", stream=stream)
    logging.getLogger("promptproc.x").debug("pp debug")
    logging.getLogger("lsst.daf.butler").debug("lsst debug")
    logging.getLogger("lsst.daf.butler").info("lsst info")
    logging.getLogger("other").info("other info")
    logging.getLogger("other").warning("other warning")
    assert [line["message"] for line in lines(stream)] == ["pp debug", "lsst info", "other warning"]


def test_default_levels_and_lsst_levels() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger("lsst").level == logging.INFO
    assert logging.getLogger("promptproc").level == logging.INFO
    configure_logging(log_levels="promptproc=verbose lsst.daf.butler=TRACE", stream=stream)
    logging.getLogger("promptproc.x").log(VERBOSE, "verbose")
    logging.getLogger("promptproc.x").debug("debug")
    logging.getLogger("lsst.daf.butler").log(TRACE, "trace")
    got = lines(stream)
    assert [line["message"] for line in got] == ["verbose", "trace"]
    assert [line["level"] for line in got] == ["VERBOSE", "TRACE"]


def test_parse_log_levels() -> None:
    assert parse_log_levels("lsst=INFO .=WARNING promptproc=DEBUG") == {
        "lsst": logging.INFO,
        "": logging.WARNING,
        "promptproc": logging.DEBUG,
    }
    assert parse_log_levels("ERROR") == {"": logging.ERROR}
    assert parse_log_levels("") == {}
    for bad in ("promptproc=LOUD", "=INFO", "promptproc=", "lsst:INFO"):
        with pytest.raises(ConfigurationError, match="SERVICE_LOG_LEVELS"):
            parse_log_levels(bad)


def test_reconfiguring_replaces_the_handler_and_resets_levels() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(log_levels="promptproc.special=DEBUG", stream=first)
    configure_logging(log_format="text", stream=second)
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_ServiceHandler"]
    assert len(ours) == 1
    assert logging.getLogger("promptproc.special").level == logging.NOTSET
    logging.getLogger("promptproc.x").info("once")
    assert first.getvalue() == ""
    assert "once" in second.getvalue()


def test_text_format_for_humans() -> None:
    stream = io.StringIO()
    configure_logging({"LOG_FORMAT": "text", "RUBIN_INSTRUMENT": "SimCam"}, stream=stream)
    with visit_context(group="g1", detector=4):
        logging.getLogger("promptproc.x").warning("Timed out", extra={"seconds": 20.0})
    line = stream.getvalue().strip()
    assert " WARNING promptproc.x: Timed out [instrument=SimCam group=g1 detector=4] seconds=20.000" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_configure_from_settings() -> None:
    settings = Settings(log_format="text", service_log_levels="promptproc=DEBUG", rubin_instrument="SimCam")
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    logging.getLogger("promptproc.x").debug("from settings")
    assert "from settings [instrument=SimCam]" in stream.getvalue()
    with pytest.raises(ConfigurationError, match="LOG_FORMAT"):
        configure_logging({"log_format": "xml"}, stream=stream)


def test_warnings_are_logged() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("careful", UserWarning, stacklevel=1)
    (line,) = lines(stream)
    assert line["logger"] == "py.warnings"
    assert "careful" in line["message"]


def test_context_is_taken_when_the_record_is_made() -> None:
    # A record formatted later (e.g. by a queue handler) keeps the context of its call.
    stream = io.StringIO()
    handler = configure_logging(stream=stream)
    with visit_context(detector=7):
        record = logging.LogRecord("promptproc.x", logging.INFO, "f", 1, "m", (), None)
        handler.filter(record)
    assert json.loads(JsonFormatter().format(record))["detector"] == 7
