{#
    Seeds on Spark: dbt-spark's own spark__load_csv_rows sends each CSV value as a binding, and
    its `session` connection pastes a binding into the SQL as '<value>' with no escaping, so a
    value holding an apostrophe ("Men's") fails the seed with PARSE_SYNTAX_ERROR and an empty
    value becomes the text 'None' (dbt-labs/dbt-spark session.py, _fix_binding; the same bug:
    microsoft/dbt-fabricspark#90). This override writes every value as a Spark SQL literal
    instead (seed_value_literal), the same on every dbt-spark connection method. On another
    adapter (dbt-databricks) the adapter's own loader runs (macros/adapter_own_macro.sql).
#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- if adapter.type() != 'spark' -%}
        {{ return(adapter_own_macro('load_csv_rows')(model, agate_table)) }}
    {%- endif -%}

    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}

    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ seed_value_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %},{% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}

    {{ return(statements[0]) }}

{% endmacro %}

{#
    One CSV value (as agate read it) as a Spark SQL literal: an empty value is null, a number
    stays a number, anything else is a string literal with backslashes and apostrophes escaped
    the Spark way (`\\`, `\'`: Spark SQL string literals, spark.sql.parser.escapedStringLiterals
    false, the default).
#}
{% macro seed_value_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is number and value is not boolean -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
