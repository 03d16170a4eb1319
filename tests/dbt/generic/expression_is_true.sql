{#
    Fails for every row of `model` where `expression` (a boolean SQL expression over the
    model's columns) is not true: false or null. When attached to a column, the expression must
    still name the column itself.
#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce({{ expression }}, false)

{% endtest %}
