{#
    Contracts on Delta, enforced from the table's first commit.

    dbt-spark adds an enforced contract's check constraints after the model's
    `create or replace table ... as select`: one `alter table ... add constraint` per
    constraint, each a Delta commit plus a scan of the new table (about a second each on two
    cores; this project's marts have 18), and when the rows break the contract the table has
    already been replaced by the time the `alter` fails.

    Here they are set by the create statement itself, as the table properties Delta stores a
    CHECK constraint as (`delta.constraints.<name>` = its expression: Delta PROTOCOL.md, "Check
    Constraints"). Delta checks the statement's own rows against them, so a build whose rows
    break the contract fails with the constraint's name and the offending values, and the table
    keeps its last good version (`create or replace` is one commit). Every later write, dbt's or
    anyone's, is held to them as before. A column's `not_null` constraint is left to dbt-spark
    (`alter table ... change column ... set not null`); check constraints on incremental runs
    are not touched, as in dbt-spark.

    dbt-spark (dbt/include/spark/macros/adapters.sql) calls both macros for the `local`
    (session) and `thrift` targets; on another adapter (dbt-databricks) its own run instead
    (macros/adapter_own_macro.sql).
#}

{#- The `tblproperties (...)` clause of `create table ... as select`: the model's
    `tblproperties` config and, for an enforced contract on Delta, its check constraints. -#}
{% macro spark__tblproperties_clause() -%}
    {%- if adapter.type() != 'spark' -%}
        {{ return(adapter_own_macro('tblproperties_clause')()) }}
    {%- endif -%}
    {%- set properties = {} -%}
    {%- do properties.update(config.get('tblproperties') or {}) -%}
    {%- do properties.update(contract_check_properties()) -%}
    {%- if properties %}
    tblproperties (
        {%- for key, value in properties.items() %}
        {{ seed_value_literal(key | string) }} = {{ seed_value_literal(value | string) }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    )
    {%- endif %}
{%- endmacro %}


{#- `{delta.constraints.<name>: expression}` of the model's check constraints when its contract
    is enforced and its format is Delta, else `{}`. An unnamed constraint is named by the md5
    of its expression and position. -#}
{% macro contract_check_properties() -%}
    {%- set properties = {} -%}
    {%- set contract = config.get('contract') -%}
    {%- if contract and contract.enforced and config.get('file_format', 'delta') == 'delta' -%}
        {%- for constraint in model.constraints -%}
            {%- if constraint.type == 'check' -%}
                {%- set name = constraint.name or local_md5(';' ~ constraint.expression ~ ';' ~ loop.index) -%}
                {%- do properties.update({'delta.constraints.' ~ (name | lower): constraint.expression}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(properties) }}
{%- endmacro %}


{#- After the create: only the columns' `not_null` constraints (the check constraints are
    already the table's, see spark__tblproperties_clause). -#}
{% macro spark__persist_constraints(relation, model) %}
    {%- if adapter.type() != 'spark' -%}
        {{ return(adapter_own_macro('persist_constraints')(relation, model)) }}
    {%- endif -%}
    {%- set contract = config.get('contract') -%}
    {%- if contract.enforced and config.get('file_format', 'delta') == 'delta' -%}
        {%- do alter_column_set_constraints(relation, model.columns) -%}
    {%- endif -%}
{% endmacro %}
