{#
    Counts the deliveries whose value a staging parsing rule cannot read: every delivery of raw
    table `table_name` (both paths, duplicates included) where `delivered_column`, cleaned as
    staging cleans it (clean_text, with the column's `pin_placeholders` when `placeholders`), is not
    null but the rule gives null. `rule`: 'timestamp' (parse_timestamp) or 'follower_count'
    (parse_follower_count). Such rows stay in staging with a null value (marts that group or
    rank by it drop them); run with severity warn, the test reports how many there are and the
    build goes on. Same macros as staging, so the count is exactly the values staging nulled for
    being unreadable (placeholders are nulled by design and not counted).
#}
{% test delivered_values_parse(model, column_name, table_name, delivered_column, rule, placeholders=false) %}


with

deliveries as (

    {{ union_deliveries(table_name) }}

),

delivered as (

    select
        _delivery_path,
        _topic,
        _partition,
        _offset,
        _element,
        {{ clean_text(adapter.quote(delivered_column), delivered_column if placeholders else none) }} as delivered_text
    from deliveries

)

select *
from delivered
where
    delivered_text is not null
    {%- if rule == 'timestamp' %}
    and {{ parse_timestamp('delivered_text') }} is null
    {%- elif rule == 'follower_count' %}
    and {{ parse_follower_count('delivered_text') }} is null
    {%- else %}
    {{ exceptions.raise_compiler_error("delivered_values_parse: unknown rule " ~ rule) }}
    {%- endif %}

{% endtest %}
