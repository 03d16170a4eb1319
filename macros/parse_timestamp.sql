{#
    Parses source datetime text written either as 'yyyy-MM-dd HH:mm:ss' or as
    'yyyy-MM-ddTHH:mm:ss' (ISO 8601 with a T) into a timestamp. The text carries no zone and is
    read as UTC whatever the session time zone. Text in any other form becomes null.
#}
{% macro parse_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'pinlake')(column)) }}
{%- endmacro %}

{% macro default__parse_timestamp(column) -%}
    try_to_timestamp(
        concat(regexp_replace({{ column }}, '^([0-9]{4}-[0-9]{2}-[0-9]{2})T', '$1 '), ' +0000'),
        'yyyy-MM-dd HH:mm:ss Z'
    )
{%- endmacro %}
