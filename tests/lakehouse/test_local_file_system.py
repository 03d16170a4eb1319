"""pinlake's local file system for Hadoop (jvm/hadoop, ``pinlake.spark.LOCAL_FILE_SYSTEM``): the
session's ``file:`` paths go through it by both Hadoop APIs, permissions land as Hadoop asked,
and a rename through ``FileContext`` (Delta's log store) still refuses to replace a file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pinlake.spark import LOCAL_FILE_SYSTEM

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_both_hadoop_apis_use_pinlakes_local_file_system(spark, tmp_path: Path) -> None:
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    uri = jvm.java.net.URI(tmp_path.as_uri())
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(uri, conf)
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(uri, conf)
    assert fs.getClass().getName() == LOCAL_FILE_SYSTEM["spark.hadoop.fs.file.impl"]
    assert (
        context.getDefaultFileSystem().getClass().getName()
        == LOCAL_FILE_SYSTEM["spark.hadoop.fs.AbstractFileSystem.file.impl"]
    )


def test_permissions_and_a_rename_that_must_not_replace(spark, tmp_path: Path) -> None:
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    hadoop = jvm.org.apache.hadoop
    fs = hadoop.fs.FileSystem.get(jvm.java.net.URI(tmp_path.as_uri()), conf)
    path = hadoop.fs.Path((tmp_path / "a").as_uri())
    fs.create(path).close()
    for mode in (0o640, 0o755, 0o600):
        fs.setPermission(path, hadoop.fs.permission.FsPermission(mode))
        assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == mode
        assert fs.getFileLinkStatus(path).getPermission().toShort() == mode

    context = hadoop.fs.FileContext.getFileContext(jvm.java.net.URI(tmp_path.as_uri()), conf)
    (tmp_path / "b").write_text("kept")
    none = spark.sparkContext._gateway.new_array(hadoop.fs.Options.Rename, 0)  # no OVERWRITE
    target = hadoop.fs.Path((tmp_path / "b").as_uri())
    with pytest.raises(Exception, match="FileAlreadyExists|already exists"):
        context.rename(path, target, none)
    assert (tmp_path / "b").read_text() == "kept" and (tmp_path / "a").exists()
    gone = hadoop.fs.Path((tmp_path / "c").as_uri())
    context.rename(path, gone, none)  # to a new name: renamed
    assert not (tmp_path / "a").exists() and (tmp_path / "c").exists()
    with pytest.raises(Exception, match="FileNotFound|does not exist"):
        fs.getFileLinkStatus(path)
