"""The ingestion API: Kafka REST Proxy v2 produce + API Gateway Kinesis proxy, backed by Kafka.

Layout, one job per module:

- :mod:`.app`: the FastAPI app factory (routers, API key, generic errors, ``/healthz``);
- :mod:`.paths`: the API Gateway path rules (repeated slashes, the stage segment, a trailing
  slash), applied to every request before the API key check and routing;
- :mod:`.server`: ``python -m pinlake.ingest_api.server`` (settings from the environment);
- :mod:`.kafka_rest`: ``codec`` (pure request parsing) and ``routes`` (produce, metadata),
  ``consumer_codec`` (pure) and ``consumer_routes`` (the v2 consumer API);
- :mod:`.kinesis`: ``codec`` (pure shard ids, sequence numbers, hash ranges, iterators,
  entry validation), ``operations`` (each Kinesis operation over the backend), ``routes`` (the
  API Gateway proxy's resources) and ``sdk_protocol`` (Kinesis' own JSON protocol, the AWS
  SDKs');
- :mod:`.wire`: pure JSON and name helpers both codecs share, and ``CodecError``;
- :mod:`.errors`: error bodies, and the per-facade route class that maps broker and codec
  errors once;
- :mod:`.request_io`: body size limit and media type of a request;
- :mod:`.backend`: the Kafka side (producer, metadata, reader, consumer instances, broker watch).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` on first use (PEP 562): the pure codecs (their limits, such as the
    producer's PutRecords bound) import without FastAPI."""
    if name == "create_app":
        from pinlake.ingest_api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
