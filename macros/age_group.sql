{#
    Buckets an age in years into the reporting age groups 18-24, 25-35, 36-50 and +50 (51 and
    over). Ages under 18 and null ages give null, and every age-group model drops them.
#}
{% macro age_group(column) -%}
    case
        when {{ column }} between 18 and 24 then '18-24'
        when {{ column }} between 25 and 35 then '25-35'
        when {{ column }} between 36 and 50 then '36-50'
        when {{ column }} > 50 then '+50'
    end
{%- endmacro %}
