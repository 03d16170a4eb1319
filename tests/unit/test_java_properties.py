"""The ``.properties`` files pinlake writes for its JVMs, read back by a real JVM
(``java.util.Properties.load``, as Kafka, Log4j 2 and DataNucleus read them).

helper-91: a home ``…/x #%41é @y`` was written into ``server.properties`` as UTF-8, which Java
reads as ISO-8859-1: ``log.dirs`` named ``…/x #%41Ã© @y/…``, and Kafka kept its data in a folder
beside the home."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pinlake.config import Settings, java_executable
from pinlake.services.jvm import properties_value
from pinlake.services.kafka_broker import nodes, server_properties

pytestmark = pytest.mark.slow  # a JVM of its own (the fast loop starts none but the brokers')

#: Prints each property of the file in args[0] as ``key=<its value's UTF-8 bytes in hex>``.
READER = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class ReadProperties {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (InputStream in = new FileInputStream(args[0])) { p.load(in); }
        for (String k : new TreeSet<>(p.stringPropertyNames())) {
            StringBuilder hex = new StringBuilder();
            for (byte b : p.getProperty(k).getBytes(StandardCharsets.UTF_8)) {
                hex.append(String.format("%02x", b));
            }
            System.out.println(k + "=" + hex);
        }
    }
}
"""

VALUES = ["/tmp/x #%41é @y/data", "a\\b", " lead", "x😀y", "tab\there", "=:#!", "line\nbreak", ""]


def read_by_java(tmp_path: Path, text: str) -> dict[str, str]:
    source = tmp_path / "ReadProperties.java"
    source.write_text(READER)
    props = tmp_path / "file.properties"
    props.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [str(java_executable()), str(source), str(props)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pairs = (line.split("=", 1) for line in done.stdout.splitlines())
    return {key: bytes.fromhex(value).decode("utf-8") for key, value in pairs}


def test_values_and_a_homes_server_properties_read_back_as_written(tmp_path: Path) -> None:
    home = tmp_path / "x #%41é @y" / "home"
    settings = Settings(home=home)
    text = server_properties(settings)
    text += "".join(f"value.{i}={properties_value(v)}\n" for i, v in enumerate(VALUES))

    read = read_by_java(tmp_path, text)

    assert read["log.dirs"] == str(nodes(settings)[0].dir / "data")
    assert [read[f"value.{i}"] for i in range(len(VALUES))] == VALUES
