"""A real KRaft broker that dies during start-up says why, in the error itself: Kafka logs through
SLF4J 1.7, bound to log4j2 (log4j-slf4j-impl, jvm/pom.xml) and written to the node's server log,
whose errors the message quotes. Without a binding, the broker printed ``SLF4J: Failed to load
class "org.slf4j.impl.StaticLoggerBinder"`` and logged nothing: the message pointed at an empty
``kafka.out``.

The broker's storage is really formatted (Kafka's ``StorageTool``), then its ``meta.properties``
names another node, which Kafka refuses at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import KafkaSettings, Settings
from pinlake.errors import PinlakeError
from pinlake.services import kafka_broker
from pinlake.services.process import free_ports

pytestmark = pytest.mark.kafka


def test_a_broker_that_dies_at_start_up_quotes_kafkas_own_error(tmp_path: Path) -> None:
    port, controller = free_ports(2)
    settings = Settings(
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", controller_port=controller),
    )
    kafka_broker.prepare(settings)
    [node] = kafka_broker.nodes(settings)
    meta = kafka_broker.kafka_dir(settings) / "data" / "meta.properties"
    assert "node.id=1\n" in meta.read_text()
    meta.write_text(meta.read_text().replace("node.id=1\n", "node.id=7\n"))
    try:
        with pytest.raises(PinlakeError) as failed:
            pid = kafka_broker.start(settings)
            kafka_broker.wait_healthy(settings, timeout=90, pid_=pid)
    finally:
        kafka_broker.stop(settings)
    message = str(failed.value)
    assert "exited" in message
    assert str(kafka_broker.server_log(settings, node)) in message
    assert "ERROR Exiting Kafka due to fatal exception" in message
    assert "Stored node id 7 doesn't match previous node id 1" in message
    out = kafka_broker.out_log(settings, node).read_text()
    assert "SLF4J" not in out  # the StorageTool's and the broker's SLF4J found their binding
