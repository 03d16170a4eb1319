{#
    Aggregate: the exact LOWER median of a numeric expression within a group. Null values are
    ignored; with n non-null values sorted ascending it returns the value at position
    ceil(n / 2) (odd n: the middle value; even n: the lower of the two middle values).
    Null when the group has no non-null value.
#}
{% macro lower_median(column) -%}
    {{ return(adapter.dispatch('lower_median', 'pinlake')(column)) }}
{%- endmacro %}

{% macro default__lower_median(column) -%}
    case
        when count({{ column }}) > 0
            then element_at(
                array_sort(collect_list({{ column }})),
                cast(ceil(count({{ column }}) / 2.0) as int)
            )
    end
{%- endmacro %}
