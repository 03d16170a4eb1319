{#
    Fails for every row whose `column_name` is outside [min_value, max_value] (inclusive; either
    bound optional). Nulls pass: pair with not_null where needed. Written here because the
    project avoids hub packages (dbt_utils.accepted_range does the same).
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }}
from {{ model }}
where
    1 = 2
    {%- if min_value is not none %}
    or {{ column_name }} < {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} > {{ max_value }}
    {%- endif %}

{% endtest %}
