"""A service that fails to start says why in the error itself: ``process.wait_healthy`` adds the
last error lines of the service's log (exceptions, ``Caused by``, ERROR records, never stack
frames), so that a CI log holds the reason after the service's home is gone. And the ports
given to services in tests and benchmarks are never ephemeral ones, which any outgoing
connection may take first.

The services here are real child processes (``python -c``) that write a log the way a JVM does
and then exit or hang; nothing else is started.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pinlake.errors import PinlakeError, one_line
from pinlake.services import jvm, process

JAVA_FAILURE = """\
26/12/01 00:00:58 INFO SparkContext: Running Spark version 4.2.0
26/12/01 00:00:59 WARN Utils: Your hostname resolves to a loopback address
Exception in thread "main" java.lang.NoClassDefFoundError: org/apache/hadoop/hive/llap/Signable
\tat org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.main(HiveThriftServer2.scala:99)
\tat java.base/java.lang.Thread.run(Thread.java:840)
Caused by: java.lang.ClassNotFoundException: org.apache.hadoop.hive.llap.Signable
\tat java.base/java.net.URLClassLoader.findClass(URLClassLoader.java:445)
26/12/01 00:01:00 INFO ShutdownHookManager: Shutdown hook called
"""


def _service(tmp_path: Path, text: str, then: str) -> tuple[int, Path]:
    """Spawn a child that writes ``text`` to its log (stdout) and then runs ``then``."""
    log = tmp_path / "logs" / "svc.log"
    log.parent.mkdir(parents=True)
    code = f"import sys, time; sys.stdout.write({text!r}); sys.stdout.flush(); {then}"
    pid = process.spawn(tmp_path / "run", log, "svc", [sys.executable, "-c", code])
    return pid, log


def _wait_fails(pid: int | None, log: Path, timeout: float, exited: str, not_healthy: str) -> str:
    """The message of the PinlakeError ``process.wait_healthy`` raises for a check that never
    passes."""
    with pytest.raises(PinlakeError) as caught:
        process.wait_healthy(
            lambda: False,
            timeout=timeout,
            interval=0.1,
            pid=pid,
            exited=exited,
            not_healthy=not_healthy,
            log=log,
        )
    return str(caught.value)


def test_an_exit_during_start_up_quotes_the_exception_and_its_cause(tmp_path):
    pid, log = _service(tmp_path, JAVA_FAILURE, "sys.exit(1)")
    message = _wait_fails(pid, log, 30, "the service exited during start-up", "never")
    lines = message.splitlines()
    # the log named once (helper-111: "see X the last errors in X:" once made one line)
    assert lines[0] == f"the service exited during start-up; see {log}, whose last errors are:"
    assert one_line(message).count(str(log)) == 1
    assert lines[1:] == [
        '  | Exception in thread "main" java.lang.NoClassDefFoundError: '
        "org/apache/hadoop/hive/llap/Signable",
        "  | Caused by: java.lang.ClassNotFoundException: org.apache.hadoop.hive.llap.Signable",
    ]


def test_a_service_that_never_answers_quotes_the_end_of_its_log(tmp_path):
    text = "".join(f"starting step {n}\n" for n in range(1, 9))
    pid, log = _service(tmp_path, text, "time.sleep(60)")
    try:
        message = _wait_fails(pid, log, 1, "exited", "the service did not answer within 1s")
    finally:
        process.stop(tmp_path / "run", "svc", timeout=0)
    lines = message.splitlines()
    assert lines[0] == f"the service did not answer within 1s; see {log}, which ends:"
    assert lines[1:] == [f"  | starting step {n}" for n in range(4, 9)]


def test_a_failed_start_quotes_only_what_it_wrote_not_an_earlier_starts_errors(tmp_path):
    """Every start appends to the service's logs: a failed start quoted the errors of an earlier
    one first (helper-51's trial). Each start begins with its line (``process.START_MARK``) in
    its own log and in the logs the service writes itself; the excerpt reads after it."""
    own = tmp_path / "logs" / "svc-server.log"  # a log the service appends to itself (log4j)
    pid, log = _service(tmp_path, JAVA_FAILURE, "sys.exit(1)")
    _wait_fails(pid, log, 30, "exited", "never")
    own.write_text("ERROR the first start's own record\n")
    code = "import sys; print('starting step 1'); print('the port is taken'); sys.exit(1)"
    pid = process.spawn(tmp_path / "run", log, "svc", [sys.executable, "-c", code], own_logs=[own])
    message = _wait_fails(pid, log, 30, "the service exited during start-up", "never")
    assert message.splitlines() == [
        f"the service exited during start-up; see {log}, which ends:",
        "  | starting step 1",
        "  | the port is taken",
    ]
    marks = [row for row in log.read_text().splitlines() if row.startswith(process.START_MARK)]
    assert len(marks) == 2 and all(row.startswith("=== pinlake: svc starts at ") for row in marks)
    assert own.read_text().splitlines()[-1].startswith("=== pinlake: svc starts at ")
    assert process.log_excerpt(own) == ""  # nothing since this start


#: What a JVM that refuses an option prints (``PINLAKE_JVM_OPTIONS=-XX:+BogusOptionTwo``): the
#: option it refused first, then the launcher's two "Error:" lines.
JVM_OPTION_REFUSED = """\
Unrecognized VM option 'BogusOptionTwo'
Error: Could not create the Java Virtual Machine.
Error: A fatal exception has occurred. Program will exit.
"""


def test_a_jvm_that_refuses_an_option_is_quoted_with_the_option(tmp_path):
    """The excerpt quoted only the launcher's "Error:" lines, not the option they were about
    (helper-53's trial)."""
    pid, log = _service(tmp_path, JVM_OPTION_REFUSED, "sys.exit(1)")
    lines = _wait_fails(pid, log, 30, "exited", "never").splitlines()
    assert lines[1:] == [f"  | {row}" for row in JVM_OPTION_REFUSED.splitlines()]
    # helper-113: and the variable that gave the option (it named none)
    assert lines[0].startswith(f"exited{jvm.REFUSED_OPTION_HINT}; see {log}"), lines[0]


def test_a_storage_format_whose_jvm_refuses_an_option_names_the_variable(tmp_path):
    """helper-113: ``PINLAKE_JVM_OPTIONS`` with an option the JVM refuses failed the Kafka
    storage's format with the JVM's words alone. A real ``java`` refuses it here."""
    from pinlake.config import Settings
    from pinlake.services import kafka_broker

    settings = Settings(home=tmp_path, jvm_options="-XX:+BogusOptionTwo")
    props = tmp_path / "server.properties"
    props.write_text("process.roles=broker,controller\n")
    [node] = kafka_broker.nodes(settings)
    error = kafka_broker._format(settings, node, kafka_broker.new_cluster_id(), props)
    assert error is not None and error.startswith("formatting the Kafka storage failed: "), error
    assert "Unrecognized VM option 'BogusOptionTwo'" in error, error
    assert error.endswith(jvm.REFUSED_OPTION_HINT), error


def test_a_metastore_tool_whose_jvm_refuses_an_option_says_so(tmp_path):
    """helper-113's kind: Derby's ij, whose JVM refused an option, was reported as "ij did not
    run (is `make setup` done?)". A real ``java`` refuses it here; the error gives its words
    and the variable."""
    from pinlake.config import Settings
    from pinlake.services import metastore

    settings = Settings(home=tmp_path, jvm_options="-XX:+BogusOptionTwo")
    with pytest.raises(metastore.MetastoreError) as caught:
        metastore._ij(settings, "exit;\n", "reading the metastore schema version")
    error = str(caught.value)
    assert error.startswith("reading the metastore schema version: Derby's ij did not run: "), error
    assert "Unrecognized VM option 'BogusOptionTwo'" in error and "make setup" not in error, error
    assert error.endswith(jvm.REFUSED_OPTION_HINT), error


def test_without_a_readable_log_the_message_is_unchanged(tmp_path):
    missing = tmp_path / "never-written.log"
    assert process.log_excerpt(missing) == ""
    assert _wait_fails(None, missing, 0.3, "exited", "did not answer") == "did not answer"


def test_only_the_last_lines_of_a_long_log_are_quoted(tmp_path):
    log = tmp_path / "long.log"
    log.write_text("".join(f"ERROR record {n}\n" for n in range(100)) + "x" * 1000 + " Error\n")
    excerpt = process.log_excerpt(log, lines=3).splitlines()
    assert excerpt == [
        "",
        f"the last errors in {log}:",
        "  | ERROR record 98",
        "  | ERROR record 99",
        "  | " + "x" * 300,
    ]


def test_free_ports_are_below_the_ephemeral_range_and_bindable(tmp_path):
    """A port the kernel may hand to any outgoing connection is never chosen for a service."""
    low, high = process.ephemeral_port_range()
    assert 0 < low <= high <= 65_535
    ports = process.free_ports(20)
    assert len(set(ports)) == 20
    assert all(process.FREE_PORT_FLOOR <= port < low for port in ports)
    base = process.free_port_block(9)
    assert process.FREE_PORT_FLOOR <= base and base + 9 <= low


def test_a_thrift_server_that_takes_the_connection_and_never_answers_is_not_healthy(
    tmp_path: Path,
) -> None:
    """``thrift_server.healthy`` (``services status``, the start-up wait) asks its ``select 1``
    within its ``timeout``: PyHive's connection has none, and a server that takes the connection
    (here a socket that listens and never accepts) held the check forever; its ``timeout``
    parameter was read by nothing."""
    import threading

    from pinlake_testing import listening

    from pinlake.config import Settings
    from pinlake.services import thrift_server

    with listening() as port:
        settings = Settings(home=tmp_path / "home", thrift_port=port)
        answer: list[bool] = []
        check = threading.Thread(
            target=lambda: answer.append(thrift_server.healthy(settings, timeout=0.5)),
            daemon=True,
        )
        check.start()
        check.join(60)  # a bound on a hang, not a measure of speed
        assert not check.is_alive(), "healthy() still waits on a server that never answers"
        assert answer == [False]
