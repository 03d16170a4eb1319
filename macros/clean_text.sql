{#
    Trims leading and trailing whitespace, including U+00A0 (no-break space), from a text
    expression. The empty string becomes null, and so does a value that equals (after trimming)
    one of the placeholders the `pin_placeholders` seed lists for `placeholder_column`. The one
    implementation of the "trim" and "placeholder -> null" rules.

    The placeholders are looked up in one map, {column: [placeholders]}, built from the seed by
    a scalar subquery whose text is the same in every column: Spark runs it once per query and
    reuses it (ReusedSubquery), where an `in (select ...)` per column was a join per column
    (stg_pinterest__pins' SELECT over the reference data: 6.1 s -> 3.5 s; bench/README.md).
#}
{% macro clean_text(column, placeholder_column=none) -%}
    {{ return(adapter.dispatch('clean_text', 'pinlake')(column, placeholder_column)) }}
{%- endmacro %}

{% macro default__clean_text(column, placeholder_column=none) -%}
    {%- set trimmed -%}
        regexp_replace({{ column }}, '^[\\s\\u00A0]+|[\\s\\u00A0]+$', '')
    {%- endset -%}
    case
            when {{ trimmed }} = '' then null
            {%- if placeholder_column is not none %}
            when array_contains(
                coalesce(try_element_at({{ pinlake.placeholders_by_column() }}, '{{ placeholder_column }}'), array()),
                {{ trimmed }}
            ) then null
            {%- endif %}
            else {{ trimmed }}
        end
{%- endmacro %}

{#
    The `pin_placeholders` seed as one map value, {column_name: array of placeholders}: a scalar
    subquery, the same text wherever it is used so that Spark evaluates it once per query.
#}
{% macro placeholders_by_column() -%}
    (
        select map_from_entries(collect_list(struct(column_name, placeholders)))
        from (
            select column_name, collect_set(placeholder) as placeholders
            from {{ ref('pin_placeholders') }}
            group by column_name
        )
    )
{%- endmacro %}
