"""Supervision of the local services, run in the background with pid files:

- :mod:`.kafka_broker`: the local KRaft Kafka cluster, one node by default or
  ``--kafka-brokers N`` (config, storage format, start/stop, readiness);
- :mod:`.api_process`: the ingestion API server process (:mod:`pinlake.ingest_api.server`);
- :mod:`.stream_process`: the continuous stream query (:mod:`pinlake.lakehouse.stream`);
- :mod:`.mariadb`: the MariaDB source database (``PINLAKE_SOURCE_DB=mariadb``);
- :mod:`.metastore`: the shared Hive metastore (Derby network server, explicit schema);
- :mod:`.thrift_server`: the Spark Thrift server (dbt's ``thrift`` target);
- :mod:`.spark_cluster`: a Spark standalone master and workers (``--spark-cluster``), the
  master of the home's Spark processes while it runs;
- :mod:`.process`: pid files and configuration records, liveness (psutil), process-tree stop,
  the start-up wait and the port checks, which connect to no port before something listens on
  it (the kernel's table of listening sockets);
- :mod:`.request`: what one ``services up`` asks for (:class:`.request.UpRequest`);
- :mod:`.manager`: ``pinlake services up|down|status``.

The Kafka *client* helpers are :mod:`pinlake.kafka`.
"""
