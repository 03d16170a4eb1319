"""A shell's ``PYTHONPATH`` set for another Spark install (its ``python/`` and py4j zip, as
Spark's docs set it) comes before the virtualenv's packages: the ``pinlake`` command imported
that Spark's pyspark (a traceback at the first session). The command runs again without the
entries that hold ``pyspark`` or ``py4j`` (pinlake.__main__); the others stay, in order. The
command itself from such a shell: tests/integration/test_stream_path.py (``_pinlake``)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from pinlake.__main__ import own_spark_python_path


def test_entries_holding_another_sparks_python_packages_are_dropped(tmp_path: Path) -> None:
    spark_python = tmp_path / "spark" / "python"
    (spark_python / "pyspark").mkdir(parents=True)
    (spark_python / "pyspark" / "__init__.py").write_text("raise ImportError('another Spark')\n")
    py4j_zip = tmp_path / "spark" / "py4j-0.10.9.7-src.zip"
    with zipfile.ZipFile(py4j_zip, "w") as archive:
        archive.writestr("py4j/__init__.py", "")
    mine = tmp_path / "my-modules"
    mine.mkdir()
    (mine / "helpers.py").write_text("")
    missing = tmp_path / "not-there"

    given = os.pathsep.join(map(str, (mine, spark_python, py4j_zip, missing)))
    assert own_spark_python_path({"PYTHONPATH": given}) == os.pathsep.join(
        map(str, (mine, missing))
    )
    only_spark = os.pathsep.join(map(str, (spark_python, py4j_zip)))
    assert own_spark_python_path({"PYTHONPATH": only_spark}) == ""  # none left: unset
    # nothing to drop: the command runs as it is
    assert own_spark_python_path({"PYTHONPATH": str(mine)}) is None
    assert own_spark_python_path({"PYTHONPATH": ""}) is None
    assert own_spark_python_path({}) is None
