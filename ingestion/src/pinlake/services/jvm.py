"""The ``java`` command line of the JVMs pinlake starts itself: the Kafka nodes and their storage
tool, the metastore's Derby network server, its ij and schema tools; and the ``.properties`` files
they read (:func:`properties_value`).

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


#: What HotSpot's launcher prints when it refuses an option it was given (``Unrecognized VM
#: option 'X'``, ``Unrecognized option: -X``, then ``Could not create the Java Virtual Machine``).
REFUSED_OPTION_MARKS = (
    "Unrecognized VM option",
    "Unrecognized option:",
    "Could not create the Java",
)
#: Said after a JVM's error when its output shows it refused an option (:func:`refused_option`).
REFUSED_OPTION_HINT = (
    " (the JVM refused an option: PINLAKE_JVM_OPTIONS gives every JVM pinlake starts its "
    "options; check it)"
)


def refused_option(output: str) -> str:
    """:data:`REFUSED_OPTION_HINT` when a JVM's ``output`` (its log, or its stderr) shows it
    refused an option (:data:`REFUSED_OPTION_MARKS`), else ``""``: the error named no variable,
    so the user had to know which one gave the option (helper-113: a Kafka node's storage
    format "failed: Unrecognized VM option …")."""
    return REFUSED_OPTION_HINT if any(mark in output for mark in REFUSED_OPTION_MARKS) else ""


def last_words(output: str) -> str:
    """The last five lines of a JVM's ``output`` (its stderr, or stdout) on one line, joined by
    `` | ``, and :func:`refused_option`'s hint; ``""`` when it said nothing. How a tool JVM's
    failure is quoted (Kafka's storage format, Derby's ij)."""
    said = " | ".join(output.strip().splitlines()[-5:])
    return f"{said}{refused_option(output)}" if said else ""


def properties_value(value: str) -> str:
    """``value`` as a value of a Java ``.properties`` file (``java.util.Properties.load``: the
    file is read as ISO-8859-1, ``\\`` starts an escape): a backslash doubled, a leading blank,
    line breaks and tabs escaped, and every character outside printable ASCII written as
    ``\\uXXXX`` (UTF-16 code units). A home ``…/x é/`` in ``server.properties`` was read as
    ``…/x Ã©/``: Kafka kept its data in a folder beside the home (helper-91)."""
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[ch])
        elif ch == " " and i == 0:
            out.append("\\ ")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{units[j] << 8 | units[j + 1]:04x}" for j in range(0, len(units), 2))
    return "".join(out)
