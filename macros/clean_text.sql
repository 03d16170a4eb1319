{#
    Trims leading and trailing whitespace, including U+00A0 (no-break space), from a text
    expression. The empty string becomes null, and so does a value that equals (after trimming)
    one of the placeholders the `pin_placeholders` seed lists for `placeholder_column`. The one
    implementation of the "trim" and "placeholder -> null" rules.
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
            when {{ trimmed }} in (
                select placeholder from {{ ref('pin_placeholders') }}
                where column_name = '{{ placeholder_column }}'
            ) then null
            {%- endif %}
            else {{ trimmed }}
        end
{%- endmacro %}
