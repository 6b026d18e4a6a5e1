"""Object stores on Spark. This machine has no hadoop-aws (no S3 connector, and nothing can be
downloaded), so what is tested is what can be: the paths and settings the job gives Spark, and
the one-line error of a Spark without the connector. A run against a store needs a cluster with
hadoop-aws (docs/semantics.md, "Object stores")."""
from __future__ import annotations

import pytest

from pipec.backends.spark import runtime
from pipec.runtime_contract import PipelineRunError


def test_s3_urls_become_s3a_and_local_paths_stay_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runtime.resolve_path("s3://bucket/data/${day}.csv", {"day": "2013-01-02"}) == \
        "s3a://bucket/data/2013-01-02.csv"
    assert runtime.resolve_path("s3a://bucket/x", {}) == "s3a://bucket/x"
    assert runtime.resolve_path("gs://bucket/x", {}) == "gs://bucket/x"
    assert runtime.resolve_path("data/s3://x", {}) == str(tmp_path / "data/s3:/x")


def test_the_store_endpoint_comes_from_the_environment_and_credentials_never_do():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "KEY", "AWS_SECRET_ACCESS_KEY": "SECRET"}
    settings = runtime.s3_settings(env)
    assert settings == {"spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
                        "spark.hadoop.fs.s3a.path.style.access": "true",
                        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false"}
    assert not any("KEY" in v or "SECRET" in v for v in settings.values())
    assert runtime.s3_settings({}) == {}


def test_a_spark_without_the_s3_connector_says_what_to_add(spark):
    with pytest.raises(PipelineRunError, match=r"^s3a://bucket/x.csv: this Spark has no file system for `s3a://`; "
                                               r"put its connector on the classpath \(for s3a: hadoop-aws"):
        runtime.read_table(spark, "x", "csv", "s3a://bucket/x.csv", [("a", "int", False)])
