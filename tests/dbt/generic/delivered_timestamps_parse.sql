{#
    Counts the deliveries whose datetime text `parse_timestamp` cannot read: every delivery of
    raw table `table_name` (both paths, duplicates included) where `delivered_column`, cleaned
    with clean_text, is not null but parses to null. Such rows stay in staging with a null
    timestamp (marts that group by time drop them); run with severity warn, the test reports
    how many there are and the build goes on. Same rules as staging (clean_text,
    parse_timestamp), so the count is exactly the rows staging nulled for being unreadable.
#}
{% test delivered_timestamps_parse(model, column_name, table_name, delivered_column) %}

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
        {{ clean_text(adapter.quote(delivered_column)) }} as delivered_text
    from deliveries

)

select *
from delivered
where
    delivered_text is not null
    and {{ parse_timestamp('delivered_text') }} is null

{% endtest %}
