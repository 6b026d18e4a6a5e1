"""bench/pipelines/flight_delays.pipe written by hand in PySpark + MLlib, for bench/bench_spark.py.

What a Spark engineer would write for the same outputs: typed CSV reads of only the columns used
(FAILFAST, so a value that does not parse stops the job, as pipec's check does), one cache of the
features table that training and scoring share, MLlib's LogisticRegression with pipec's settings
(no regularisation, no standardisation), the split of docs/semantics.md, and each table written
as one file at its path (as pipec writes them). Master and memory come from spark-submit's
arguments (`PYSPARK_SUBMIT_ARGS` when run as `python`), exactly as for the generated job.

Usage: python flight_delays_spark.py DATA_DIR OUT_DIR
"""
import json
import os
import shutil
import sys
import tempfile

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

data, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MIN_DISTANCE, SEED, P = 200.0, 42, 1_000_003
FEATURES = ["log_distance", "temp", "wind_speed"]

spark = (SparkSession.builder.appName("flight_delays_handwritten")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
         .config("spark.ui.showConsoleProgress", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("WARN")


def read_csv(name: str, columns: dict[str, T.DataType]):
    """The named columns of a CSV file, typed while parsing (Spark parses only the selected ones)."""
    header = open(os.path.join(data, name)).readline().rstrip("\n").split(",")
    schema = T.StructType([T.StructField(c, columns.get(c, T.StringType())) for c in header])
    return (spark.read.schema(schema)
            .options(header=True, nullValue="NA", mode="FAILFAST", timestampFormat="yyyy-MM-dd'T'HH:mm:ssXXX")
            .csv(os.path.join(data, name))
            .select(*columns))


flights = read_csv("flights.csv", {"arr_delay": T.LongType(), "carrier": T.StringType(), "flight": T.LongType(),
                                   "origin": T.StringType(), "distance": T.LongType(),
                                   "time_hour": T.TimestampType()})
weather = read_csv("weather.csv", {"origin": T.StringType(), "time_hour": T.TimestampType(),
                                   "temp": T.DoubleType(), "wind_speed": T.DoubleType()})

features = (
    flights.where(F.col("arr_delay").isNotNull() & (F.col("distance") >= MIN_DISTANCE))
    .join(weather, on=["origin", "time_hour"], how="left")
    .select("carrier", "origin", "flight", F.ln("distance").alias("log_distance"),
            F.coalesce("temp", F.lit(55.0)).alias("temp"), F.coalesce("wind_speed", F.lit(0.0)).alias("wind_speed"),
            (F.col("arr_delay") > 15).alias("late"))
    .cache()
)

u = F.pmod(F.pmod("flight", F.lit(P)) * 7919 + (SEED % P) * 104729 + 1, F.lit(P)) / P
train, test = features.where(u < 0.8), features.where(u >= 0.8)

model = Pipeline(stages=[
    VectorAssembler(inputCols=FEATURES, outputCol="features"),
    LogisticRegression(maxIter=200, regParam=0.0, elasticNetParam=0.0, standardization=False),
]).fit(train.withColumn("label", F.col("late").cast("double")))

transformed = model.transform(test)
scored = transformed.select(*features.columns, (F.col("prediction") == 1.0).alias("prediction"),
                            vector_to_array("probability")[1].alias("probability"))
by_carrier = (scored.groupBy("carrier")
              .agg(F.count(F.lit(1)).alias("flights"), F.avg(F.col("late").cast("double")).alias("late_rate"))
              .orderBy(F.col("late_rate").desc()))
accuracy = scored.agg(F.avg((F.col("prediction") == F.col("late")).cast("double"))).first()[0]
roc_auc = BinaryClassificationEvaluator(rawPredictionCol="probability", metricName="areaUnderROC", numBins=0) \
    .evaluate(transformed.withColumn("label", F.col("late").cast("double")))


def write_one_file(frame, fmt: str, path: str) -> None:
    """Spark writes a folder of part files; put its single part at `path`."""
    folder = tempfile.mkdtemp(dir=out)
    writer = frame.coalesce(1).write.mode("overwrite")
    (writer.option("header", True).csv if fmt == "csv" else writer.parquet)(folder)
    (part,) = [f for f in os.listdir(folder) if f.startswith("part-")]
    os.replace(os.path.join(folder, part), path)
    shutil.rmtree(folder)


os.makedirs(out, exist_ok=True)
write_one_file(scored, "parquet", os.path.join(out, "scored.parquet"))
write_one_file(by_carrier, "csv", os.path.join(out, "by_carrier.csv"))
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump({"accuracy": accuracy, "roc_auc": roc_auc}, f)
model.write().overwrite().save(os.path.join(out, "model"))
spark.stop()
