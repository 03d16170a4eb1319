"""Whether the broker is known to be down, and the thread that notices it is back."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from pinlake.ingest_api.errors import BrokerUnavailable

log = logging.getLogger("pinlake.api")


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

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            if self.down and self.ping(1.0):
                self.down = False

    def close(self) -> None:
        """Stop the probing thread (waits up to 5 s for it)."""
        self._stop.set()
        self._thread.join(timeout=5)
