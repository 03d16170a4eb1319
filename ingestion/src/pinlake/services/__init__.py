"""Local services: a single-node KRaft Kafka broker and the ingestion API, run in the background."""
