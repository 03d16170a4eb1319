{#
    Parses source datetime text into a UTC timestamp, whatever the session time zone. Accepted:
    ISO 8601 date and time, 'T' or a space between them, seconds and fractions of a second
    optional, an optional zone ('Z', '+hh', '+hhmm', '+hh:mm'; text without one is UTC), and the
    colon form 'yyyy:MM:dd HH:mm:ss' that one of the original producers writes
    (strftime("%Y:%m:%d %H:%M:%S")). Surrounding whitespace is ignored. Anything else, a date
    alone included, becomes null: try_cast never raises, with or without ANSI mode.
#}
{% macro parse_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'pinlake')(column)) }}
{%- endmacro %}

{% macro default__parse_timestamp(column) -%}
    {%- set text -%}
        regexp_replace(trim({{ column }}), '^([0-9]{4}):([0-9]{2}):([0-9]{2})([ T])', '$1-$2-$3$4')
    {%- endset -%}
    {%- set zone = "(Z|[+-][0-9]{2}(:?[0-9]{2})?)" -%}
    case
        when {{ text }} rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?{{ zone }}?$'
            then try_cast(
                if({{ text }} rlike '{{ zone }}$', {{ text }}, concat({{ text }}, 'Z')) as timestamp
            )
    end
{%- endmacro %}
