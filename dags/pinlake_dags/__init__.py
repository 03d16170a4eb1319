"""Helpers shared by the pinlake DAG files (kept out of DAG parsing by ``dags/.airflowignore``)."""
