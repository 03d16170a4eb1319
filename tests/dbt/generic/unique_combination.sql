{#
    Fails for every combination of `columns` that occurs more than once in `model` (the grain of
    a mart). Same contract as dbt_utils.unique_combination_of_columns.
#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as number_of_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
