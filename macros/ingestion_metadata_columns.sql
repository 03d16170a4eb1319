{#
    The ingestion metadata columns every raw table carries (pinlake.schemas.METADATA_COLUMNS),
    kept through staging. Emits the column list without a trailing comma: use it last.
#}
{% macro ingestion_metadata_columns() -%}
    _topic,
    _partition,
    _offset,
    _source_file,
    _load_id,
    _ingested_at
{%- endmacro %}
