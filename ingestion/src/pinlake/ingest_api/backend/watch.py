"""Whether the broker is known to be down, the thread that notices it is back, and the
cluster's health as ``/healthz`` reports it (:func:`cluster_health`)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from pinlake.ingest_api.errors import BrokerUnavailable

log = logging.getLogger("pinlake.api")

#: Seconds a broker's port has to accept a TCP connection for ``/healthz`` to count it answering.
CONNECT_TIMEOUT = 0.5


@dataclass(frozen=True)
class ClusterHealth:
    """The Kafka cluster as ``/healthz`` reports it (:func:`cluster_health`).

    ``kafka``: ``"ok"`` (every registered broker answers, every partition of pinlake's topics
    has a leader that answers and all its replicas in sync), ``"degraded"`` (some broker
    answers, but not all of that holds: records may wait or fail, README "What a kill does"),
    ``"down"`` (no metadata answer, or no registered broker answers). ``brokers``: the
    registered broker ids; ``not_answering``: those whose port refused a connection;
    ``without_leader`` and ``under_replicated``: partitions of pinlake's topics (``topic[p]``)
    whose leader is none or does not answer, and whose in-sync replicas are fewer than their
    replicas."""

    kafka: str
    brokers: tuple[int, ...] = ()
    not_answering: tuple[int, ...] = ()
    without_leader: tuple[str, ...] = ()
    under_replicated: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        """``/healthz``'s JSON body: ``{"status": "ok", "kafka": …}`` and, once the cluster
        answered metadata, its brokers and partitions (lists of ids and ``topic[p]``)."""
        body: dict[str, Any] = {"status": "ok", "kafka": self.kafka}
        if self.brokers:
            body |= {
                "brokers": list(self.brokers),
                "brokers_not_answering": list(self.not_answering),
                "partitions_without_leader": list(self.without_leader),
                "partitions_under_replicated": list(self.under_replicated),
            }
        return body


def answers(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cluster_health(
    meta: Any,  # noqa: ANN401 - confluent_kafka.admin.ClusterMetadata, or None
    topics: Iterable[str],
    answering: Callable[[str, int], bool] = answers,
) -> ClusterHealth:
    """:class:`ClusterHealth` from one metadata snapshot ``meta`` (``AdminClient.list_topics``:
    ``.brokers`` by id with ``host`` and ``port``; ``.topics[name].partitions[id]`` with
    ``leader``, ``replicas``, ``isrs``; None when the cluster gave no answer), the ``topics``
    to check (those it does not hold are left out) and ``answering(host, port)``.

    A broker's metadata answer is not enough: a cluster that lost its KRaft quorum (two nodes,
    one killed) still lists the dead node, and the partitions it led, as before (helper-114:
    ``kafka: ok`` while every record to them failed), so each registered broker's port is
    tried too."""
    if meta is None or not meta.brokers:
        return ClusterHealth("down")
    brokers = tuple(sorted(meta.brokers))
    dead = tuple(b for b in brokers if not answering(meta.brokers[b].host, meta.brokers[b].port))
    if len(dead) == len(brokers):
        return ClusterHealth("down", brokers, dead)
    leaderless, short = [], []
    for topic in topics:
        held = meta.topics.get(topic)
        if held is None or held.error is not None:
            continue
        for pid in sorted(held.partitions):
            part = held.partitions[pid]
            if part.leader < 0 or part.leader not in meta.brokers or part.leader in dead:
                leaderless.append(f"{topic}[{pid}]")
            elif len(part.isrs) < len(part.replicas):
                short.append(f"{topic}[{pid}]")
    ok = not (dead or leaderless or short)
    return ClusterHealth("ok" if ok else "degraded", brokers, dead, tuple(leaderless), tuple(short))


class BrokerWatch:
    """The broker's state as the API sees it.

    The producer's error callback calls :meth:`mark_down` when librdkafka reports all brokers
    down; from then on new requests get 503 at once (:meth:`require_up`) while a thread probes
    the cluster every 0.25 s and clears the flag once a metadata request names a broker.

    Records handed to librdkafka before the outage are left alone: they are retried by the
    idempotent producer until they are delivered or ``message.timeout.ms`` expires. Purging the
    local queue instead would also fail records that a lost response had put back in it after
    the broker had written them, and the client's retry would write them twice.
    """

    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin
        self.down = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kafka-watch", daemon=True)
        self._thread.start()

    def mark_down(self) -> None:
        """Called from the producer's poll thread on ``_ALL_BROKERS_DOWN``."""
        self.down = True

    def require_up(self) -> None:
        """Raise :class:`BrokerUnavailable` while the broker is marked down."""
        if self.down:
            raise BrokerUnavailable("broker not available")

    def ping(self, timeout: float = 1.0) -> bool:
        """True when a metadata request answered within ``timeout`` seconds names a broker."""
        try:
            return bool(self.admin.list_topics(timeout=timeout).brokers)
        except KafkaException as exc:
            log.debug("broker ping failed: %s", exc)
            return False

    def health(self, topics: Iterable[str], timeout: float = 1.0) -> ClusterHealth:
        """:func:`cluster_health` of a metadata request answered within ``timeout`` seconds
        (``down`` at once while the producer reports every broker down)."""
        if self.down:
            return ClusterHealth("down")
        try:
            meta = self.admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            log.debug("broker metadata failed: %s", exc)
            meta = None
        return cluster_health(meta, topics)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            if self.down and self.ping(1.0):
                self.down = False

    def close(self) -> None:
        """Stop the probing thread (waits up to 5 s for it)."""
        self._stop.set()
        self._thread.join(timeout=5)
