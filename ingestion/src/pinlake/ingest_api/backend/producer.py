"""An idempotent producer (acks=all) driven from asyncio: one future per request.

Delivery reports run on one poll thread; each :meth:`AckedProducer.produce` call gets one asyncio
future that the callbacks resolve (thread-safely) once every record of the request has been
acknowledged or failed. Nothing is reported as written before Kafka acknowledged it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Producer

from pinlake import kafka
from pinlake.config import Settings
from pinlake.ingest_api.backend.watch import BrokerWatch

log = logging.getLogger("pinlake.api")

#: One record to produce: (key, value, partition); ``None`` partition lets the partitioner choose.
ProduceRecord = tuple[bytes | None, bytes | None, int | None]


@dataclass(slots=True)
class Delivery:
    """The fate of one record: ``partition``/``offset`` once acknowledged, else ``error``."""

    partition: int | None = None
    offset: int | None = None
    error: KafkaError | None = None


class _Batch:
    """One request's records: filled in by delivery callbacks, resolved once all are back."""

    __slots__ = ("results", "pending", "future", "loop")

    def __init__(self, n: int, loop: asyncio.AbstractEventLoop) -> None:
        self.results: list[Delivery | None] = [None] * n
        self.pending = n
        self.future: asyncio.Future = loop.create_future()
        self.loop = loop

    def done(self, index: int, err: KafkaError | None, msg) -> None:  # poll thread
        if err is None:
            self.results[index] = Delivery(msg.partition(), msg.offset())
        else:
            self.results[index] = Delivery(None, None, err)
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(_resolve, self.future, self.results)

    def callback(self, index: int):
        """The delivery callback ``(err, msg)`` of record ``index`` (a C-level partial: one
        Python frame less per record than a lambda, on the loop and on the poll thread)."""
        return partial(self.done, index)


def _expire(future: asyncio.Future) -> None:
    """The delivery wait is over: :meth:`AckedProducer.produce` answers what has come back."""
    if not future.done():
        future.set_result(None)


def _resolve(future: asyncio.Future, results) -> None:
    if not future.done():
        future.set_result(results)


class AckedProducer:
    """The API's one Kafka producer (idempotent, ``acks=all``) and its poll thread."""

    def __init__(self, settings: Settings, watch: BrokerWatch) -> None:
        self.watch = watch
        self.delivery_timeout_ms = settings.api.delivery_timeout_ms
        self._stop = threading.Event()
        self._producer = Producer(
            {
                "bootstrap.servers": settings.kafka.bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 1,
                "partitioner": "murmur2_random",
                "batch.num.messages": 10000,
                "message.max.bytes": max(
                    1_000_000, settings.api.max_record_bytes + kafka.RECORD_OVERHEAD_BYTES
                ),
                "message.timeout.ms": self.delivery_timeout_ms,
                "socket.timeout.ms": 5000,
                "reconnect.backoff.ms": 100,
                "reconnect.backoff.max.ms": 1000,
                "topic.metadata.refresh.interval.ms": 30000,
                "error_cb": self._on_error,
                "logger": kafka.quiet_logger(),
                "log_level": 3,
            }
        )
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()

    def refresh_metadata(self, topic: str) -> None:
        """Ask the broker for ``topic``'s metadata now (blocking, up to 3 s): the producer's
        cache takes the answer. Raises KafkaException if the broker does not answer."""
        self._producer.list_topics(topic, timeout=3.0)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:  # poll thread
        code = err.code()
        if code == KafkaError._ALL_BROKERS_DOWN:
            self.watch.mark_down()
        elif code == KafkaError._TRANSPORT:
            # One connection dropped: librdkafka reconnects by itself, and a broker that is
            # really gone is reported as _ALL_BROKERS_DOWN next.
            log.debug("Kafka connection lost: %s", err)
        elif err.fatal():
            log.error("fatal Kafka producer error: %s", err)

    async def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Delivery]:
        """Produce ``records`` to ``topic``; one :class:`Delivery` per record, in order.

        Waits until every record is acknowledged (acks=all) or failed, at most
        ``delivery_timeout_ms`` + 5 s (then unanswered records fail with ``_MSG_TIMED_OUT``).
        A full local queue is waited out; records still unqueued when the broker goes down or
        the delivery timeout passes fail with ``_QUEUE_FULL``. Raises
        :class:`~pinlake.ingest_api.errors.BrokerUnavailable` before producing anything while
        the broker is known to be down.
        """
        self.watch.require_up()
        loop = asyncio.get_running_loop()
        batch = _Batch(len(records), loop)
        produce = self._producer.produce
        callback = batch.callback
        i = 0
        n = len(records)
        give_up = time.monotonic() + self.delivery_timeout_ms / 1000
        while i < n:
            try:  # fast path: one tight loop while librdkafka's queue has room
                for i in range(i, n):  # noqa: B020 - resumes at the record that failed
                    key, value, partition = records[i]
                    produce(
                        topic,
                        value=value,
                        key=key,
                        partition=-1 if partition is None else partition,
                        on_delivery=callback(i),
                    )
                i = n
            except BufferError:
                await asyncio.sleep(0.005)  # local queue full: let the poll thread drain it
                if self.watch.down or time.monotonic() > give_up:
                    for j in range(i, n):
                        batch.done(j, KafkaError(KafkaError._QUEUE_FULL), None)
                    break
            except KafkaException as exc:
                batch.done(i, exc.args[0], None)
                i += 1
        # The bound is a timer on the loop rather than asyncio.wait_for(shield(...)), which
        # costs two more futures and their callbacks per request (about 4 us of the loop's time).
        timer = loop.call_later(self.delivery_timeout_ms / 1000 + 5, _expire, batch.future)
        try:
            if await batch.future is not None:
                return batch.results  # every entry filled in by its delivery report
        finally:
            timer.cancel()
        return [
            r or Delivery(None, None, KafkaError(KafkaError._MSG_TIMED_OUT)) for r in batch.results
        ]

    def close(self) -> None:
        """Stop the poll thread and flush for up to 5 s (records still queued are logged)."""
        self._stop.set()
        self._poller.join(timeout=5)
        left = self._producer.flush(5)
        if left:
            log.debug("%d records still unacknowledged at shutdown", left)
