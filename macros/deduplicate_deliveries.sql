{#
    At-least-once delivery: the same source row can be ingested several times (identical
    copies). Returns a select over `relation` (a CTE or relation name) that keeps exactly one
    row per `key_column`, the first one delivered (earliest _ingested_at, then source file and
    offset), plus a helper column _delivery_rank that callers drop by listing their columns.
#}
{% macro deduplicate_deliveries(relation, key_column) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_column }}
                order by _ingested_at asc, _source_file asc, _partition asc, _offset asc
            ) as _delivery_rank
        from {{ relation }}
    ) as ranked_deliveries
    where _delivery_rank = 1
{%- endmacro %}
