{#
    The two delivery paths of a source table, and the rule that keeps one row per key.

    Batch rows come from source `pinterest` (raw.<table>, landed from the topics bucket), stream
    rows from source `pinterest_stream` (raw.stream_<table>, written by the stream query). Both
    carry the same delivered fields; their delivery metadata differ (see
    delivery_metadata_columns).
#}

{#- The delivered fields of a raw table, in source order (var pinlake_delivered_columns). -#}
{% macro delivered_columns(table_name) -%}
    {{ return(var('pinlake_delivered_columns')[table_name]) }}
{%- endmacro %}


{#-
    How many of a raw table's delivered fields a delivery carries (not null), as an int
    expression over the raw table's columns: a record put by hand with two fields counts 2,
    a source row all of its fields.
-#}
{% macro delivered_field_count(table_name) -%}
    (
    {%- for column in delivered_columns(table_name) %}
        {% if not loop.first %}+ {% endif %}cast(`{{ column }}` is not null as int)
    {%- endfor %}
    )
{%- endmacro %}


{#-
    The delivery metadata columns of staging (after the delivered fields). Without `path`: the
    column names. With `path` ('batch' or 'stream') and `table_name`: the select list that gives
    that path's raw table of `table_name` these columns (a column the path does not have is a
    typed NULL; `_delivered_fields` is delivered_field_count).
-#}
{% macro delivery_metadata_columns(path=none, table_name=none) -%}
    {%- set columns = [
        ('_topic', 'string', ['batch', 'stream']),
        ('_partition', 'int', ['batch', 'stream']),
        ('_offset', 'bigint', ['batch', 'stream']),
        ('_element', 'int', ['batch', 'stream']),
        ('_source_file', 'string', ['batch']),
        ('_load_id', 'string', ['batch']),
        ('_ingested_at', 'timestamp', ['batch', 'stream']),
        ('_kafka_timestamp', 'timestamp', ['stream']),
        ('_partition_key', 'string', ['stream']),
        ('_sequence_number', 'string', ['stream']),
        ('_batch_id', 'bigint', ['stream']),
    ] -%}
    {%- if path is none %}_delivery_path{% else %}'{{ path }}' as _delivery_path{% endif -%}
    ,
        {% if path is none %}_delivered_fields{% else %}{{ delivered_field_count(table_name) }} as _delivered_fields{% endif -%}
    {%- for name, type, paths in columns -%}
        ,
        {% if path is none or path in paths %}{{ name }}{% else %}cast(null as {{ type }}) as {{ name }}{% endif %}
    {%- endfor -%}
{%- endmacro %}


{#-
    Every delivery of a source table from both paths, as one relation: delivered fields, then
    delivery_metadata_columns(). In an incremental run, only what arrived since the model last
    ran, per path: `_ingested_at` at or after the newest of that path in the model. Each path has
    one writer, which stamps `_ingested_at` before it commits and commits in stamp order, so a
    per-path watermark never skips a delivery (rows equal to it are looked at again, which
    kept_deliveries makes harmless).
-#}
{% macro union_deliveries(table_name) -%}
    {%- set paths = [
        ('batch', source('pinterest', table_name)),
        ('stream', source('pinterest_stream', table_name)),
    ] -%}
    {%- for path, relation in paths %}
    select
        {%- for column in delivered_columns(table_name) %}
        `{{ column }}`,
        {%- endfor %}
        {{ delivery_metadata_columns(path, table_name) }}
    from {{ relation }}
    {%- if is_incremental() %}
    where _ingested_at >= (
        select coalesce(max(_ingested_at), timestamp '1970-01-01 00:00:00')
        from {{ this }}
        where _delivery_path = '{{ path }}'
    )
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}


{#-
    At-least-once delivery on two paths: the same source row can arrive several times (identical
    copies), and a record put by hand may carry a part of its fields. Returns a select over
    `relation` (a CTE or relation name) with exactly one row per `key_column`, the kept
    delivery: the most complete (most `_delivered_fields`; a partial record never hides the
    source row), then the first delivered: earliest _ingested_at, then numerically by partition,
    offset and element (the position in a delivered JSON array; null, for a record delivered as
    one object, sorts first and never meets a non-null at the same offset), then by path and
    topic (a total order; never by file name). Same columns as `relation`.
-#}
{% macro kept_deliveries(relation, key_column) -%}
    select kept_delivery.*
    from (
        select
            min_by(
                struct(*),
                struct(
                    -_delivered_fields,
                    _ingested_at,
                    _partition,
                    _offset,
                    _element,
                    _delivery_path,
                    _topic
                )
            ) as kept_delivery
        from {{ relation }}
        group by {{ key_column }}
    ) as keyed
{%- endmacro %}


{#-
    The rows an incremental staging model writes (merge on `key_column`) for `relation`, its
    cleaned deliveries (union_deliveries, already limited to the new ones). Full refresh:
    kept_deliveries of everything. Incremental: kept_deliveries over the new deliveries plus
    the model's current rows for the same keys, less the rows the model holds already; a row
    kept is therefore the kept delivery of all runs together, exactly what a full refresh
    keeps, and the merge only writes keys whose kept delivery changed or is new.
-#}
{% macro kept_deliveries_since_last_run(relation, key_column) -%}
    {%- if is_incremental() %}
    select candidate.*
    from (
        {{ kept_deliveries(
            '(select * from ' ~ relation ~ ' union all select * from ' ~ this
            ~ ' where ' ~ key_column ~ ' in (select ' ~ key_column ~ ' from ' ~ relation
            ~ ')) as candidates',
            key_column
        ) }}
    ) as candidate
    left anti join {{ this }} as current_row
        on
            candidate.{{ key_column }} = current_row.{{ key_column }}
            and candidate._delivery_path = current_row._delivery_path
            and candidate._topic = current_row._topic
            and candidate._partition = current_row._partition
            and candidate._offset = current_row._offset
            and candidate._element <=> current_row._element
    {%- else %}
    {{ kept_deliveries(relation, key_column) }}
    {%- endif %}
{%- endmacro %}
