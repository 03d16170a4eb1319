"""``/healthz``'s Kafka state from one metadata snapshot and the brokers' ports
(pinlake.ingest_api.backend.watch.cluster_health), and the API row ``services status`` makes
of it. The real cluster's answer, with a node killed and back, is in
tests/integration/test_scale_out.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pinlake.ingest_api.backend.watch import ClusterHealth, cluster_health
from pinlake.services.manager import _api_state

TOPICS = ["pinterest.pin", "pinterest.geo"]


def _meta(brokers: list[int], partitions: dict[str, list[tuple[int, list[int], list[int]]]]):
    """A ``ClusterMetadata``-shaped snapshot: brokers on ports 9000 + id; per topic, each
    partition's (leader, replicas, in-sync replicas)."""
    return SimpleNamespace(
        brokers={b: SimpleNamespace(host="127.0.0.1", port=9000 + b) for b in brokers},
        topics={
            topic: SimpleNamespace(
                error=None,
                partitions={
                    p: SimpleNamespace(leader=leader, replicas=replicas, isrs=isrs)
                    for p, (leader, replicas, isrs) in enumerate(parts)
                },
            )
            for topic, parts in partitions.items()
        },
    )


def _answering(*dead: int):
    return lambda _host, port: port - 9000 not in dead


def test_a_whole_cluster_is_ok() -> None:
    meta = _meta([1, 2], {t: [(1, [1, 2], [1, 2]), (2, [2, 1], [2, 1])] for t in TOPICS})
    health = cluster_health(meta, TOPICS, _answering())
    assert health == ClusterHealth("ok", (1, 2))
    assert health.body() == {
        "status": "ok",
        "kafka": "ok",
        "brokers": [1, 2],
        "brokers_not_answering": [],
        "partitions_without_leader": [],
        "partitions_under_replicated": [],
    }
    assert _api_state(health.body()) == "healthy"


def test_a_lost_quorum_still_listing_the_dead_node_is_degraded() -> None:
    """helper-114: two nodes, one killed, so the KRaft quorum is lost and nothing updates the
    metadata: the dead node is still registered, leads its partitions and is in every ISR, and
    ``/healthz`` said ``kafka: ok`` while every record to those partitions failed."""
    meta = _meta([1, 2], {t: [(1, [1, 2], [1, 2]), (2, [2, 1], [2, 1])] for t in TOPICS})
    health = cluster_health(meta, TOPICS, _answering(2))
    assert health == ClusterHealth(
        "degraded", (1, 2), (2,), ("pinterest.pin[1]", "pinterest.geo[1]"), ()
    )
    assert _api_state(health.body()) == (
        "degraded: node 2 does not answer; 2 partitions without a leader"
    )


def test_a_fenced_node_leaves_its_partitions_under_replicated() -> None:
    """A cluster that kept its quorum fences the dead node (no longer registered) and elects
    other leaders; its replicas are out of the ISRs until it is back."""
    meta = _meta([1, 3], {"pinterest.pin": [(1, [1, 2, 3], [1, 3]), (3, [3, 1, 2], [3, 1, 2])]})
    health = cluster_health(meta, TOPICS, _answering())
    assert health == ClusterHealth("degraded", (1, 3), (), (), ("pinterest.pin[0]",))
    assert _api_state(health.body()) == "degraded: 1 partition under-replicated"
    several = {"kafka": "degraded", "brokers_not_answering": [2, 3]}
    assert _api_state(several) == "degraded: nodes 2, 3 do not answer"


@pytest.mark.parametrize(
    ("leader", "brokers"),
    [(-1, [1, 2]), (2, [1])],  # no leader; a leader that is not registered
)
def test_a_partition_without_a_live_leader_is_named(leader: int, brokers: list[int]) -> None:
    meta = _meta(brokers, {"pinterest.geo": [(leader, [2], [2])]})
    health = cluster_health(meta, TOPICS, _answering())
    assert (health.kafka, health.without_leader) == ("degraded", ("pinterest.geo[0]",))


def test_no_answer_and_no_broker_answering_are_down() -> None:
    assert cluster_health(None, TOPICS) == ClusterHealth("down")
    assert cluster_health(None, TOPICS).body() == {"status": "ok", "kafka": "down"}
    meta = _meta([1, 2], {})
    assert cluster_health(meta, TOPICS, _answering(1, 2)).kafka == "down"
    assert _api_state({"status": "ok", "kafka": "down"}) == "degraded: its Kafka does not answer"


def test_topics_the_cluster_does_not_hold_are_left_out() -> None:
    """A new home's cluster has none of pinlake's topics until they are created."""
    meta = _meta([1], {"other": [(-1, [1], [])]})
    assert cluster_health(meta, TOPICS, _answering()).kafka == "ok"
