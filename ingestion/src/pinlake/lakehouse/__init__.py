"""Bronze layer: the raw Delta tables, landing from the topics bucket, exports and dbt runs."""
