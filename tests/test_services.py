"""Round trips through the real test services, and the skip-or-fail policy."""

from __future__ import annotations

import time

import pytest

from promptproc.errors import ServiceUnavailableError
from promptproc.testing import services

pytestmark = pytest.mark.services


def test_postgres_round_trip(postgres: services.PostgresDatabase) -> None:
    with postgres.connect() as conn:
        conn.execute("CREATE TABLE visit (id bigint PRIMARY KEY, band text NOT NULL)")
        conn.execute("INSERT INTO visit VALUES (%s, %s), (%s, %s)", (1, "g", 2, "r"))
        rows = conn.execute("SELECT id, band FROM visit ORDER BY id").fetchall()
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        current = conn.execute("SELECT current_database()").fetchone()
    assert rows == [(1, "g"), (2, "r")]
    assert "btree_gist" in extensions
    assert current == (postgres.dbname,)
    assert postgres.url.startswith("postgresql://")
    assert postgres.psycopg2_url.startswith("postgresql+psycopg2://")


def test_postgres_psycopg2_url_and_helpers(postgres: services.PostgresDatabase) -> None:
    import sqlalchemy

    schema = postgres.make_schema("helper")
    extra = postgres.make_database("helper")
    assert extra.dbname != postgres.dbname
    engine = sqlalchemy.create_engine(extra.psycopg2_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar_one() == extra.dbname
            assert conn.dialect.driver == "psycopg2"
    finally:
        engine.dispose()
    with postgres.connect() as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    assert found == (1,)


def test_kafka_round_trip_with_consumer_group(kafka: services.KafkaService) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = kafka.topic_name("round-trip")
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=10)
    assert topic in admin.list_topics(timeout=10).topics

    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    sent = [f"visit-{i}".encode() for i in range(3)]
    for value in sent:
        producer.produce(topic, key=b"detector-1", value=value)
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": kafka.topic_name("group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        consumer.subscribe([topic])
        received: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message.value())
        assert received == sent
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert committed[0].offset == len(sent)


def test_s3_round_trip(s3: services.S3Service) -> None:
    import os

    import boto3

    bucket = s3.create_bucket()
    # The session environment is enough for a plain client (as lsst.resources uses it).
    assert os.environ["S3_ENDPOINT_URL"] == s3.endpoint_url
    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])
    client.put_object(Bucket=bucket, Key="SimCam/20260101/raw_1.fits", Body=b"SIMPLE  =  T")
    client.put_object(Bucket=bucket, Key="SimCam/20260101/raw_1.json", Body=b"{}")
    body = client.get_object(Bucket=bucket, Key="SimCam/20260101/raw_1.fits")["Body"].read()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="SimCam/")
    assert body == b"SIMPLE  =  T"
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        "SimCam/20260101/raw_1.fits",
        "SimCam/20260101/raw_1.json",
    ]


def test_redis_stream_round_trip(redis_service: services.RedisService, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stream, group = redis_service.key("next-visit"), "workers"
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
        entry = client.xadd(stream, {"instrument": "SimCam", "detector": "1", "position": "[10.0, -5.0]"})
        answer = client.xreadgroup(group, "worker-1", {stream: ">"}, count=10, block=2000)
        assert answer == [
            [stream, [(entry, {"instrument": "SimCam", "detector": "1", "position": "[10.0, -5.0]"})]]
        ]
        assert client.xpending(stream, group)["pending"] == 1
        assert client.xack(stream, group, entry) == 1
        assert client.xpending(stream, group)["pending"] == 0
    finally:
        client.close()
    assert redis_service.delete_own_keys() >= 1
    assert redis.Redis.from_url(redis_url).exists(stream) == 0


UNREACHABLE = {
    "PostgreSQL": (
        services.postgres_service,
        services.ENV_POSTGRES_URL,
        "postgresql://postgres@127.0.0.1:1/postgres",
    ),
    "Redis": (services.redis_service, services.ENV_REDIS_URL, "redis://127.0.0.1:1/0"),
    "Kafka": (services.kafka_service, services.ENV_KAFKA_BOOTSTRAP, "127.0.0.1:1"),
    "S3": (services.s3_service, services.ENV_S3_ENDPOINT, "http://127.0.0.1:1"),
}


@pytest.mark.parametrize("name", sorted(UNREACHABLE))
def test_named_unreachable_service_raises(name: str) -> None:
    launcher, variable, address = UNREACHABLE[name]
    with pytest.raises(ServiceUnavailableError, match=variable), launcher(environ={variable: address}):
        pass


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_service_policy(ci: str, outcome: type[BaseException]) -> None:
    launcher, variable, address = UNREACHABLE["PostgreSQL"]
    environ = {variable: address, "CI": ci}
    provided = services.provide("PostgreSQL", lambda: launcher(environ=environ), environ=environ)
    with pytest.raises(outcome, match="PostgreSQL is not available"), provided:
        pytest.fail("an unreachable service was provided")  # pragma: no cover


def test_is_ci() -> None:
    assert services.is_ci({"CI": "true"})
    assert services.is_ci({"CI": "TRUE"})
    assert not services.is_ci({"CI": "false"})
    assert not services.is_ci({})
