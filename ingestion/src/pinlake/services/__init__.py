"""Supervision of the local services, run in the background with pid files:

- :mod:`.kafka_broker`: a single-node KRaft Kafka broker (config, storage format, start/stop);
- :mod:`.api_process`: the ingestion API server process (:mod:`pinlake.ingest_api.server`);
- :mod:`.stream_process`: the continuous stream query (:mod:`pinlake.lakehouse.stream`);
- :mod:`.mariadb`: the MariaDB source database (``PINLAKE_SOURCE_DB=mariadb``);
- :mod:`.process`: pid files and configuration records, liveness (psutil), process-tree stop,
  the start-up wait;
- :mod:`.manager`: ``pinlake services up|down|status``.

The Kafka *client* helpers are :mod:`pinlake.kafka`.
"""
