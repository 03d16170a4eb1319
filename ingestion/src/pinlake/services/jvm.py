"""The ``java`` command line of the JVMs pinlake starts itself: the Kafka nodes and their storage
tool, the metastore's Derby network server, its ij and schema tools.

Spark's JVMs are started by Spark's own launchers and take the same options another way: the
driver and executors through ``spark.driver/executor.extraJavaOptions``
(:func:`pinlake.spark.spark_conf`, profiles.yml), the standalone daemons through
``SPARK_DAEMON_JAVA_OPTS`` (:mod:`pinlake.services.spark_cluster`). All of them read
``Settings.jvm_options`` (``PINLAKE_JVM_OPTIONS``).
"""

from __future__ import annotations

import os
import shlex

from pinlake.config import Settings, java_executable
from pinlake.errors import PinlakeError


def java(settings: Settings, needed_by: str) -> list[str]:
    """``[<java>, *PINLAKE_JVM_OPTIONS]``: the start of a JVM's command line, with the ``java``
    Spark's launcher runs too (:func:`pinlake.config.java_executable`: ``JAVA_HOME``'s, else
    the one on ``PATH``).

    Raises :class:`PinlakeError` naming ``needed_by`` when there is no such ``java``."""
    found = java_executable()
    if found is None:
        home = os.environ.get("JAVA_HOME")
        where = f"in JAVA_HOME={home} (bin/java)" if home else "on PATH"
        raise PinlakeError(f"java not found {where} ({needed_by} needs Java 17+)")
    return [str(found), *shlex.split(settings.jvm_options)]
