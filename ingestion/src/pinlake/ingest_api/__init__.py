"""The ingestion API: Kafka REST Proxy v2 produce + API Gateway Kinesis proxy, backed by Kafka."""

from pinlake.ingest_api.app import create_app

__all__ = ["create_app"]
