"""The pipeline, defined once.

* :mod:`pinlake.pipeline.steps`: every stage as one typed function
  ``step(settings, options) -> result`` (source init/load, services up/down, produce, sink,
  land, dbt, export) and the one dispatch from an options object to its step;
* :mod:`pinlake.pipeline.isolated`: the one helper that runs steps in a child process and
  returns their typed results (the embedded Derby metastore admits one JVM at a time);
* :mod:`pinlake.pipeline.runner`: numbered, timed stages for compositions; ``Runner.spark``
  runs land, dbt and export in one child, so Spark starts once;
* :mod:`pinlake.pipeline.demo`: ``pinlake demo``, a short composition of the steps.

The CLI, the Airflow task callables, ``bench/`` and the end-to-end tests compose the same steps.
"""
