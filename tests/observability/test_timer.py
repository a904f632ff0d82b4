import io
import json
import logging

import pytest

from promptproc.observability import PhaseTimer, configure_logging, create_metrics, visit_context


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_phases_are_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    timer = PhaseTimer(clock=clock)
    with caplog.at_level(logging.INFO, logger="promptproc.timer"):
        with timer.phase("prepare"):
            clock.now += 2.5
        with timer.phase("wait"):
            clock.now += 1.0
        with timer.phase("wait"):
            clock.now += 0.5
    assert timer.seconds == {"prepare": 2.5, "wait": 1.5}
    assert timer.total == 4.0
    assert timer.failed == []
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Phase prepare took 2.500 s", "Phase wait took 1.000 s", "Phase wait took 0.500 s"]
    assert [record.seconds for record in caplog.records] == [2.5, 1.0, 0.5]  # type: ignore[attr-defined]
    assert all(record.outcome == "ok" for record in caplog.records)  # type: ignore[attr-defined]


def test_phase_is_recorded_and_logged_when_the_body_raises(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    timer = PhaseTimer("promptproc.activator", level=logging.WARNING, clock=clock)

    def run() -> None:
        with timer.phase("run"):
            clock.now += 3.0
            raise KeyError("missing")

    with caplog.at_level(logging.INFO), pytest.raises(KeyError):
        run()
    assert timer.seconds == {"run": 3.0}
    assert timer.failed == ["run"]
    (record,) = caplog.records
    assert record.name == "promptproc.activator"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Phase run failed after 3.000 s (KeyError)"
    assert record.outcome == "error"  # type: ignore[attr-defined]


def test_phase_lines_carry_the_phase_in_the_context() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    timer = PhaseTimer(clock=FakeClock())
    log = logging.getLogger("promptproc.activator")
    with visit_context(group="g1", detector=4), timer.phase("ingest"):
        log.warning("inside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["phase"] for line in lines] == ["ingest", "ingest"]
    assert lines[1]["message"] == "Phase ingest took 0.000 s"
    assert lines[1]["seconds"] == 0.0
    assert lines[1]["group"] == "g1"


def test_phases_feed_the_histogram() -> None:
    clock = FakeClock()
    metrics = create_metrics("SimCam")
    timer = PhaseTimer(metrics=metrics, clock=clock)
    with timer.phase("export"):
        clock.now += 4.0
    value = metrics.registry.get_sample_value(
        "promptproc_phase_duration_seconds_sum", {"instrument": "SimCam", "phase": "export"}
    )
    assert value == 4.0
