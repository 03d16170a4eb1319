"""The local Kafka cluster of N KRaft nodes (issue 11, section 3) without a JVM: the settings
that give every client every node, each node's generated ``server.properties`` (distinct ports
and log dirs, one quorum, replication factor N, min ISR min(2, N)), the readiness rule as a
function of one metadata snapshot, the configuration records and the storage check that
refuse another node count, and ``status``/``down`` over every node.

"Running" nodes are pid files naming live processes of this test (this process or a sleeping
Python child), so no broker is started.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from confluent_kafka.admin import BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata
from pydantic import ValidationError

from pinlake import kafka
from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError, UsageError
from pinlake.services import kafka_broker, manager, process


def settings_for(home, base: int = 19092, brokers: int = 1, **kafka_extra) -> Settings:
    """Settings of ``home`` with node 1 on ``base`` and its controller on ``base + 1``."""
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{base}",
            controller_port=base + 1,
            brokers=brokers,
            **kafka_extra,
        ),
        api=ApiSettings(host="127.0.0.1", port=base - 10, api_key=None),
    )


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


# ---- settings: one bootstrap entry per node ---------------------------------------------------
def test_three_brokers_expand_one_server_into_every_node():
    kafka_settings = KafkaSettings(brokers=3)
    assert kafka_settings.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert kafka_settings.controller_ports == [9093, 9095, 9097]
    assert KafkaSettings().bootstrap_servers == "127.0.0.1:9092"  # one broker: as before
    # the expanded list validates again as it is (the API and the stream query get it this way)
    again = KafkaSettings(**kafka_settings.model_dump())
    assert again.bootstrap_servers == kafka_settings.bootstrap_servers


def test_child_processes_get_every_node(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, 19092, brokers=3)
    env = settings.child_env()
    assert env["PINLAKE_KAFKA__BROKERS"] == "3"
    for key, value in env.items():
        if key.startswith("PINLAKE_"):
            monkeypatch.setenv(key, value)
    child = Settings()
    assert child.kafka.servers == ["127.0.0.1:19092", "127.0.0.1:19094", "127.0.0.1:19096"]
    assert child.kafka.brokers == 3


def test_a_list_must_name_one_server_per_local_broker():
    with pytest.raises(ValidationError, match="names 2 servers but brokers=3"):
        KafkaSettings(bootstrap_servers="127.0.0.1:1,127.0.0.1:3", brokers=3)
    # a list without a count is one node per entry (helper-113: refused as brokers=1, so every
    # command of a shell that had exported the list failed)
    listed = KafkaSettings(bootstrap_servers="127.0.0.1:1,127.0.0.1:3", controller_port=5)
    assert (listed.brokers, listed.servers) == (2, ["127.0.0.1:1", "127.0.0.1:3"])
    assert listed.controller_ports == [5, 7]
    ten = ",".join(f"127.0.0.1:{p}" for p in range(1, 21, 2))
    with pytest.raises(ValidationError, match="names 10 servers, and pinlake runs at most 9"):
        KafkaSettings(bootstrap_servers=ten)
    with pytest.raises(ValidationError):
        KafkaSettings(brokers=0)
    # an external cluster is taken as given; brokers is only the topics' replication factor
    external = KafkaSettings(bootstrap_servers="10.0.0.1:9092,10.0.0.2:9092", external=True)
    assert external.servers == ["10.0.0.1:9092", "10.0.0.2:9092"]


def test_kafka_brokers_option_rederives_or_refuses(tmp_path):
    one = settings_for(tmp_path, 19092)
    three = kafka_broker.with_brokers(one, 3)
    assert three.kafka.servers == ["127.0.0.1:19092", "127.0.0.1:19094", "127.0.0.1:19096"]
    assert kafka_broker.with_brokers(three, 1).kafka.bootstrap_servers == "127.0.0.1:19092"
    assert kafka_broker.with_brokers(one, 1) is one
    explicit = one.model_copy(
        update={
            "kafka": KafkaSettings(
                bootstrap_servers="127.0.0.1:19092,127.0.0.1:19192",
                controller_port=19093,
                brokers=2,
            )
        }
    )
    # the validator's text as it wrote it: no "Value error, " of pydantic's before it
    expected = "^--kafka-brokers 3: bootstrap_servers names 2 servers but brokers=3"
    with pytest.raises(UsageError, match=expected):
        kafka_broker.with_brokers(explicit, 3)


# ---- the generated node configurations --------------------------------------------------------
def test_three_nodes_have_distinct_ports_dirs_and_one_quorum(tmp_path):
    settings = settings_for(tmp_path, 19092, brokers=3)
    nodes = kafka_broker.nodes(settings)
    assert [(n.id, n.name, n.port, n.controller_port) for n in nodes] == [
        (1, "kafka", 19092, 19093),
        (2, "kafka-2", 19094, 19095),
        (3, "kafka-3", 19096, 19097),
    ]
    assert [n.dir for n in nodes] == [
        tmp_path / "kafka",
        tmp_path / "kafka-2",
        tmp_path / "kafka-3",
    ]
    each = [props(kafka_broker.server_properties(settings, n)) for n in nodes]
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert {p["controller.quorum.voters"] for p in each} == {voters}
    assert [p["node.id"] for p in each] == ["1", "2", "3"]
    assert [p["listeners"] for p in each] == [
        f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port}" for n in nodes
    ]
    assert [p["advertised.listeners"] for p in each] == [f"PLAINTEXT://{n.address}" for n in nodes]
    assert len({p["log.dirs"] for p in each}) == 3
    assert all(p["process.roles"] == "broker,controller" for p in each)
    assert all(p["broker.session.timeout.ms"] == "3000" for p in each)  # the faster failover


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_replication_follows_the_node_count(tmp_path, n):
    settings = settings_for(tmp_path, 19092, brokers=n)
    p = props(kafka_broker.server_properties(settings))
    min_isr = str(min(2, n))
    assert p["default.replication.factor"] == str(n)
    assert p["offsets.topic.replication.factor"] == str(n)
    assert p["transaction.state.log.replication.factor"] == str(n)
    assert p["share.coordinator.state.topic.replication.factor"] == str(n)
    assert p["min.insync.replicas"] == min_isr
    assert p["transaction.state.log.min.isr"] == min_isr
    assert p["share.coordinator.state.topic.min.isr"] == min_isr
    assert ("broker.session.timeout.ms" in p) == (n > 1)  # one broker: Kafka's defaults
    assert kafka.replication_factor(settings) == n


def test_one_broker_keeps_its_single_node_configuration(tmp_path):
    settings = settings_for(tmp_path, 19092)
    p = props(kafka_broker.server_properties(settings))
    assert p["node.id"] == "1"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert p["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert manager.wanted_configs(settings) == {
        "kafka": kafka_broker.config(settings),
        "api": manager.wanted_configs(settings)["api"],
    }


def test_ports_that_collide_or_leave_loopback_are_refused(tmp_path):
    clash = settings_for(tmp_path, 19092, brokers=2).model_copy(
        update={
            "kafka": KafkaSettings(
                bootstrap_servers="127.0.0.1:19092", controller_port=19094, brokers=2
            )
        }
    )
    with pytest.raises(PinlakeError, match="ports must all differ"):
        kafka_broker.nodes(clash)
    remote = settings_for(tmp_path).model_copy(
        update={"kafka": KafkaSettings(bootstrap_servers="10.0.0.1:9092", brokers=1)}
    )
    with pytest.raises(PinlakeError, match="only listens on loopback"):
        kafka_broker.server_properties(remote)


# ---- readiness: all brokers registered, every replica in sync ---------------------------------
def snapshot(brokers, partitions) -> ClusterMetadata:
    """A metadata snapshot: ``brokers`` ids; ``partitions`` {topic: [(leader, replicas, isr)]}."""
    meta = ClusterMetadata()
    for b in brokers:
        meta.brokers[b] = BrokerMetadata()
        meta.brokers[b].id = b
    for topic, parts in partitions.items():
        tmeta = TopicMetadata()
        tmeta.topic = topic
        for pid, (leader, replicas, isrs) in enumerate(parts):
            pm = PartitionMetadata()
            pm.id, pm.leader, pm.replicas, pm.isrs = pid, leader, list(replicas), list(isrs)
            tmeta.partitions[pid] = pm
        meta.topics[topic] = tmeta
    return meta


ALL = [1, 2, 3]


def test_ready_when_every_partition_has_all_replicas_in_sync():
    meta = snapshot(ALL, {"a": [(1, ALL, [3, 2, 1]), (2, ALL, ALL)], "b": [(3, ALL, ALL)]})
    assert kafka.replication_problems(meta, ["a", "b"], 3) == []
    one = snapshot([1], {"a": [(1, [1], [1])]})
    assert kafka.replication_problems(one, ["a"], 1) == []


@pytest.mark.parametrize(
    ("brokers", "partitions", "problem"),
    [
        ([1, 3], {"a": [(1, ALL, [1, 3])]}, "2 of 3 brokers registered [1, 3]"),
        (ALL, {"a": [(1, ALL, [1, 3])]}, "a[0] ISR [1, 3] of replicas [1, 2, 3]"),
        (ALL, {"a": [(1, ALL, ALL), (-1, ALL, [])]}, "a[1] has no leader"),
        (ALL, {"a": [(1, [1], [1])]}, "a[0] has 1 replicas, not 3"),
        (ALL, {}, "a missing"),
    ],
)
def test_not_ready_says_why(brokers, partitions, problem):
    meta = snapshot(brokers, partitions)
    assert problem in kafka.replication_problems(meta, ["a"], 3)


# ---- configuration records, storage, status and down over every node --------------------------
def pretend_running(settings: Settings, name: str, config: dict, pid: int | None = None) -> int:
    pid = pid or os.getpid()
    process.record_config(settings.run_dir, name, pid, config)
    process.pid_file(settings.run_dir, name).write_text(f"{pid}\n")
    return pid


def test_up_refuses_a_cluster_of_another_size_at_once(tmp_path):
    three = settings_for(tmp_path, 19092, brokers=3)
    assert list(manager.wanted_configs(three)) == ["kafka", "kafka-2", "kafka-3", "api"]
    for name in ("kafka", "kafka-2", "kafka-3"):
        pretend_running(three, name, kafka_broker.config(three))
    manager.check_configuration(three)  # the same cluster: reused
    with pytest.raises(PinlakeError) as failure:
        manager.start_all(settings_for(tmp_path, 19092), quiet=True)
    message = str(failure.value)
    assert "kafka (pid" in message and "brokers=3" in message and "not " in message
    assert "brokers=1" in message
    # helper-78: a shell without the home's PINLAKE_KAFKA__BROKERS=3 is told the command that
    # asks for the cluster as it runs, not only `services down`
    again = f"{PINLAKE} services up --no-stream --kafka-brokers 3"
    assert f"; to use them as they run, ask for that: `{again}`; or stop them first: `" in message
    manager.check_configuration(kafka_broker.with_brokers(settings_for(tmp_path, 19092), 3))
    # and a shell that exports three brokers, on a home of one: the count is written out
    one = tmp_path / "one"
    pretend_running(settings_for(one, 19092), "kafka", kafka_broker.config(settings_for(one)))
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(settings_for(one, 19092, brokers=3))
    assert f"ask for that: `{PINLAKE} services up --no-stream --kafka-brokers 1`" in str(
        failure.value
    )
    # another difference than an option's (the broker's port): no command to ask, only down
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(settings_for(tmp_path, 19500))
    assert "ask for that" not in str(failure.value)
    assert str(failure.value).endswith(f"; stop them first: `{PINLAKE.at(tmp_path)} services down`")


def test_storage_formatted_for_another_count_is_refused(tmp_path):
    one = settings_for(tmp_path, 19092)
    three = kafka_broker.with_brokers(one, 3)
    kafka_broker.check_storage(three)  # nothing formatted yet
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=abc\nnode.id=1\n")
    assert kafka_broker.formatted_brokers(one) == 1  # formatted by an older pinlake
    kafka_broker.check_storage(one)
    with pytest.raises(PinlakeError, match=r"formatted for 1 broker\(s\), not 3: use --kafka-b"):
        kafka_broker.check_storage(three)
    (tmp_path / "kafka" / "cluster.json").write_text(json.dumps({"brokers": 3}))
    with pytest.raises(PinlakeError, match=f"delete {tmp_path / 'kafka'}"):
        manager.start_all(one, quiet=True)  # before anything starts
    assert not (tmp_path / "run").exists()


def test_status_shows_every_node_of_the_running_cluster(tmp_path, capsys):
    three = settings_for(tmp_path, 19092, brokers=3)  # nothing listens on these ports
    pretend_running(three, "kafka", kafka_broker.config(three))
    pretend_running(three, "kafka-3", kafka_broker.config(three))
    # the environment says one broker: status shows what runs
    assert manager.services_status(settings_for(tmp_path, 19092)) == 3
    out = capsys.readouterr().out
    assert "kafka node 1" in out and "127.0.0.1:19094" in out and "kafka node 3" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "kafka node" in line}
    assert "down" in rows["kafka node 2"] and "running" in rows["kafka node 3"]


def test_down_stops_every_node_whatever_the_settings(tmp_path):
    three = settings_for(tmp_path, 19092, brokers=3)
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    pids = [
        process.spawn(three.run_dir, tmp_path / "x.log", name, argv, config={})
        for name in ("kafka", "kafka-2", "kafka-3")
    ]
    assert kafka_broker.running_names(three) == ["kafka", "kafka-2", "kafka-3"]
    assert kafka_broker.stop(settings_for(tmp_path, 19092), timeout=5)
    assert not any(process.is_alive(p) for p in pids)
    assert list(three.run_dir.glob("kafka*")) == []
    assert not kafka_broker.stop(three)


@pytest.mark.parametrize(("nodes", "down"), [(3, 2), (3, 3), (2, 1)])
def test_status_says_the_quorum_is_lost_without_a_majority_of_nodes(
    tmp_path, capsys, nodes: int, down: int
):
    """helper-62: with two of three nodes killed, status's replication line read the stale
    metadata ("2 of 3 brokers registered … ISR [1, 2]"). Every local node is a KRaft voter:
    without a majority the line says the quorum is lost (and asks no broker)."""
    manager._print_replication(settings_for(tmp_path, brokers=nodes), down=down)
    out = " ".join(capsys.readouterr().out.split())
    assert out == (
        f"replication: the KRaft quorum is lost ({down} of {nodes} controller nodes down): no "
        "metadata changes and no acknowledged writes (the API answers 503) until a majority runs "
        f"again (`{PINLAKE} services up` restarts the nodes)"
    )


@pytest.mark.parametrize("n", [1, 3])
def test_only_a_one_node_quorum_appends_no_no_op_records(tmp_path, n):
    """KIP-835's no-op record every 500 ms, which moves the metadata log's end for the other
    nodes' lag metrics, cost an idle single node a third of its CPU (bench/README.md, "An idle
    Kafka node"); a cluster keeps Kafka's default."""
    settings = settings_for(tmp_path, 19092, brokers=n)
    p = props(kafka_broker.server_properties(settings))
    assert p.get("metadata.max.idle.interval.ms") == ("0" if n == 1 else None)


def test_up_reminds_a_shell_of_the_node_count_only_when_it_does_not_give_it(monkeypatch):
    """``up`` of several nodes says to export ``PINLAKE_KAFKA__BROKERS`` for the other commands;
    helper-113 was told so in a shell that had exported it. The count this shell's variables
    give: the count, a list of several servers, or none when they are refused."""
    monkeypatch.delenv("PINLAKE_KAFKA__BROKERS", raising=False)
    monkeypatch.delenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    assert manager._shell_brokers() == 1
    monkeypatch.setenv("PINLAKE_KAFKA__BROKERS", "3")
    assert manager._shell_brokers() == 3
    monkeypatch.delenv("PINLAKE_KAFKA__BROKERS")
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:47092,127.0.0.1:47094")
    assert manager._shell_brokers() == 2
    monkeypatch.setenv("PINLAKE_KAFKA__BROKERS", "3")  # three nodes, two servers: refused
    assert manager._shell_brokers() is None
