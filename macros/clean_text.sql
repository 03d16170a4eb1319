{#
    Trims leading and trailing whitespace, including U+00A0 (no-break space), from a text
    expression. The empty string and every value in `null_values` (compared after trimming)
    become null. The one implementation of the "trim" and "placeholder -> null" rules.
#}
{% macro clean_text(column, null_values=[]) -%}
    {{ return(adapter.dispatch('clean_text', 'pinlake')(column, null_values)) }}
{%- endmacro %}

{% macro default__clean_text(column, null_values=[]) -%}
    {%- set trimmed -%}
        regexp_replace({{ column }}, '^[\\s\\u00A0]+|[\\s\\u00A0]+$', '')
    {%- endset -%}
    {%- set quoted_values = [] -%}
    {%- for value in [''] + null_values -%}
        {%- do quoted_values.append(
            "'" ~ (value | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'"
        ) -%}
    {%- endfor -%}
    case
            when {{ trimmed }} in ({{ quoted_values | join(', ') }}) then null
            else {{ trimmed }}
        end
{%- endmacro %}
