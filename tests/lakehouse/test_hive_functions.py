"""Hive's function registry works in pinlake's Spark (the session, and so the Thrift server,
which runs with the same settings): it initialises the Hive built-in UDTF ``get_splits``, whose
class needs ``hive-llap-common``; the pyspark wheel lacks that jar (SPARK-51449) and jvm/pom.xml
adds it. Without it a Thrift session's query failed now and then with ``NoClassDefFoundError:
org/apache/hadoop/hive/llap/security/LlapSigner$Signable`` (the first test fails so). A Hive UDF
runs too (since SPARK-51466 its evaluation no longer needs the registry)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_the_hive_function_registry_initialises(spark) -> None:
    registry = spark._jvm.org.apache.hadoop.hive.ql.exec.FunctionRegistry
    info = registry.getFunctionInfo("get_splits")
    assert info is not None
    assert info.getFunctionClass().getName().endswith("GenericUDTFGetSplits")


def test_a_hive_udf_runs(spark) -> None:
    spark.sql(
        "create temporary function pinlake_hive_upper "
        "as 'org.apache.hadoop.hive.ql.udf.generic.GenericUDFUpper'"
    )
    try:
        rows = spark.sql("select pinlake_hive_upper('pin') as v").collect()
    finally:
        spark.sql("drop temporary function if exists pinlake_hive_upper")
    assert [row.v for row in rows] == ["PIN"]
