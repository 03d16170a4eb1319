"""How fast this host's cores are today: fixed work in Python and in a JVM, in CPU-seconds.

    .venv/bin/python bench/host_speed.py [--rounds 5]

The test suite and ``make demo`` are bound by CPU (bench/README.md, "Where the suite's CPU
goes"), and the 2-core hosts they were timed on needed from 828 to 2,341 busy CPU-seconds for
the same suite. This probe runs the same small work every time, so that a timing can be told
apart from the host it ran on: run it just before (and after) a timed ``make test`` and divide.

- **Python**: ``sum(i * i for i in range(10**7))`` in this interpreter: the kind of work of
  the suite's pytest workers, dbt and Airflow (bytecode interpretation, small objects).
- **JVM**: a new ``java`` process with the suite's JIT options (C1 only, one compiler thread:
  tests/conftest.py's ``PINLAKE_JVM_OPTIONS``) that starts, fills a ``HashMap`` with 2 million
  boxed keys and builds strings, then exits: a JVM's start-up and its first seconds of JIT,
  what each of the suite's dozens of JVMs pays. Its CPU is the child's user + system time
  (``os.wait4``), start-up included.

Prints the median and the spread of ``--rounds`` runs of each, in CPU-seconds (lower is a
faster host), and the machine's busy CPU-seconds over the whole probe. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from profile_suite import busy_seconds  # beside this file

#: The JVM's work: a start-up, then boxed keys in a HashMap and string building.
JAVA_SOURCE = """
import java.util.HashMap;

public class HostSpeed {
    public static void main(String[] args) {
        HashMap<Integer, String> map = new HashMap<>();
        long total = 0;
        for (int i = 0; i < 2_000_000; i++) {
            map.put(i, Integer.toString(i * 31));
        }
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 2_000_000; i++) {
            total += map.get(i).length();
            if (i % 1000 == 0) {
                text.setLength(0);
            }
            text.append(i);
        }
        System.out.println(total + text.length());
    }
}
"""
#: The suite's JIT options (tests/conftest.py), with a heap a test JVM also gets.
JVM_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-XX:-UseCodeCacheFlushing",
    "-XX:ReservedCodeCacheSize=240m",
    "-Xmx1g",
)


def python_work() -> float:
    """CPU-seconds (this process's user + system) of the Python work."""
    before = time.process_time()
    sum(i * i for i in range(10**7))
    return time.process_time() - before


def compile_java(folder: Path) -> None:
    """Compile :data:`JAVA_SOURCE` into ``folder``. Raises SystemExit with one line when
    ``javac`` is missing or fails."""
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("error: javac not found (the JDK's compiler; make setup needs it too)")
    source = folder / "HostSpeed.java"
    source.write_text(JAVA_SOURCE, encoding="utf-8")
    done = subprocess.run([javac, "-d", str(folder), str(source)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: javac failed: {done.stderr.strip()}")


def jvm_work(folder: Path) -> float:
    """CPU-seconds (user + system, start-up included) of one ``java`` run of the compiled
    class in ``folder``. Raises SystemExit when it fails."""
    child = subprocess.Popen(
        ["java", *JVM_OPTIONS, "-cp", str(folder), "HostSpeed"], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"error: the JVM's work exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime


def summary(name: str, seconds: list[float]) -> str:
    """One line: ``name``, the median and the range of ``seconds`` (CPU-s)."""
    return (
        f"{name}: median {statistics.median(seconds):.2f} CPU-s "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5, help="runs of each kind, interleaved")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    busy, start = busy_seconds(), time.perf_counter()
    python, jvm = [], []
    with tempfile.TemporaryDirectory(prefix="host-speed-") as tmp:
        compile_java(Path(tmp))
        for _ in range(args.rounds):
            python.append(python_work())
            jvm.append(jvm_work(Path(tmp)))
    print(summary("Python", python))
    print(summary("JVM", jvm))
    print(
        f"{time.perf_counter() - start:.1f} s, {busy_seconds() - busy:.1f} busy CPU-s "
        f"on {psutil.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
