"""The ``java`` command line of the JVMs pinlake starts itself: the Kafka nodes and their storage
tool, the metastore's Derby network server, its ij and schema tools.

Spark's JVMs are started by Spark's own launchers and take the same options another way: the
driver and executors through ``spark.driver/executor.extraJavaOptions``
(:func:`pinlake.spark.spark_conf`, profiles.yml), the standalone daemons through
``SPARK_DAEMON_JAVA_OPTS`` (:mod:`pinlake.services.spark_cluster`). All of them read
``Settings.jvm_options`` (``PINLAKE_JVM_OPTIONS``).
"""

from __future__ import annotations

import shlex
import shutil

from pinlake.config import Settings
from pinlake.errors import PinlakeError


def java(settings: Settings, needed_by: str) -> list[str]:
    """``[<java on PATH>, *PINLAKE_JVM_OPTIONS]``: the start of a JVM's command line.

    Raises :class:`PinlakeError` naming ``needed_by`` when no ``java`` is on ``PATH``."""
    found = shutil.which("java")
    if found is None:
        raise PinlakeError(f"java not found on PATH ({needed_by} needs Java 17+)")
    return [found, *shlex.split(settings.jvm_options)]
