{#
    Keeps only the path of a save location: 'Local save in /data/art' -> '/data/art'. Values
    without the prefix are returned unchanged. Expects text already passed through clean_text().
#}
{% macro strip_save_location_prefix(column) -%}
    regexp_replace({{ column }}, '^Local save in\\s*', '')
{%- endmacro %}
