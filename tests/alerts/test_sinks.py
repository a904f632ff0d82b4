"""Alert sinks: Avro files and a real Kafka-compatible broker (tansu)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from promptproc.alerts import (
    AlertDeliveryError,
    AlertSink,
    FileAlertSink,
    KafkaAlertSink,
    alert_file_name,
    load_alert_schema,
    read_alerts,
)
from promptproc.errors import BadInputError, ConfigurationError
from promptproc.tasks import alerts as alerts_task
from promptproc.testing.services import KafkaService


def _packets(inputs: Any) -> list[dict[str, Any]]:
    return alerts_task.run(
        inputs.result.dia_sources,
        inputs.result.dia_objects,
        difference=inputs.difference,
        science=inputs.science,
        template=inputs.template,
        history=inputs.history,
    ).alerts


def test_file_sink_round_trip_and_rerun_overwrites(
    inputs: Any, make_alert_inputs: Any, tmp_path: Path
) -> None:
    packets = _packets(inputs)
    with FileAlertSink(tmp_path / "alerts") as sink:
        assert isinstance(sink, AlertSink)
        assert sink.send(packets) == len(packets)
    target = tmp_path / "alerts" / alert_file_name(2026112200042, 2)
    assert target.name == "2026112200042_2.avro"
    assert read_alerts(target) == packets
    first_bytes = target.read_bytes()

    # A re-run of the visit replaces the file: same alert IDs, no duplicates, no stray files.
    rerun = _packets(make_alert_inputs())
    FileAlertSink(tmp_path / "alerts").send(rerun)
    assert [p["diaSourceId"] for p in read_alerts(tmp_path / "alerts")] == [p["diaSourceId"] for p in packets]
    assert sorted(p.name for p in (tmp_path / "alerts").iterdir()) == [target.name]
    assert len(target.read_bytes()) == len(first_bytes)

    # The file is a self-describing Avro container holding the official schema.
    import fastavro

    with target.open("rb") as stream:
        assert fastavro.reader(stream).writer_schema["name"] == load_alert_schema().name
    assert read_alerts(target.read_bytes()) == packets


def test_file_sink_errors(tmp_path: Path, inputs: Any) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigurationError, match="cannot create the alert directory"):
        FileAlertSink(tmp_path / "file" / "alerts")
    (tmp_path / "bad.avro").write_bytes(b"garbage")
    with pytest.raises(BadInputError, match="not an Avro container"):
        read_alerts(tmp_path / "bad.avro")
    with pytest.raises(BadInputError, match="cannot read alert file"):
        read_alerts(tmp_path / "missing.avro")
    sink = FileAlertSink(tmp_path / "alerts")
    assert sink.send([]) == 0
    sink.close()
    with pytest.raises(RuntimeError, match="closed"):
        sink.send(_packets(inputs))


def _create_topic(kafka: KafkaService) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = kafka.topic_name("alerts")
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=10)
    return topic


def _consume(kafka: KafkaService, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": kafka.topic_name("alert-readers"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    messages = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
        # Nothing more than expected arrives.
        extra = consumer.poll(1.0)
        assert extra is None or extra.error() is not None
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return messages


@pytest.mark.services
def test_kafka_sink_round_trip(kafka: KafkaService, inputs: Any) -> None:
    topic = _create_topic(kafka)
    packets = _packets(inputs)
    with KafkaAlertSink(kafka.bootstrap, topic, delivery_timeout=10.0) as sink:
        assert isinstance(sink, AlertSink)
        assert sink.send(packets) == len(packets)
    messages = _consume(kafka, topic, len(packets))
    assert [int(m.key()) for m in messages] == [p["diaSourceId"] for p in packets]
    assert all(m.value()[:5] == b"\x00" + (1101).to_bytes(4, "big") for m in messages)
    assert read_alerts(messages) == packets
    assert len({p["diaSourceId"] for p in read_alerts(messages)}) == len(packets)


@pytest.mark.services
def test_kafka_sink_schema_id_and_failures(kafka: KafkaService, inputs: Any) -> None:
    topic = _create_topic(kafka)
    packets = _packets(inputs)[:2]
    schema = load_alert_schema()
    with KafkaAlertSink(
        kafka.bootstrap, topic, schema_id=7, producer_config={"compression.type": "zstd"}
    ) as sink:
        sink.send(packets)
    messages = _consume(kafka, topic, 2)
    assert {int.from_bytes(m.value()[1:5], "big") for m in messages} == {7}
    assert read_alerts(messages, schema=schema) == packets

    with pytest.raises(ConfigurationError, match=r"enable\.idempotence"):
        KafkaAlertSink(kafka.bootstrap, topic, producer_config={"enable.idempotence": False})
    with pytest.raises(ConfigurationError, match="bootstrap server and a topic"):
        KafkaAlertSink("", topic)

    # A broker that never answers: every alert times out and the error says which.
    unreachable = KafkaAlertSink("127.0.0.1:1", topic, delivery_timeout=1.0)
    with pytest.raises(AlertDeliveryError, match="2 of 2 alerts were not delivered") as caught:
        unreachable.send(packets)
    assert caught.value.failed_ids == [p["diaSourceId"] for p in packets]
    unreachable.close()
