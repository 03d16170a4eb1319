{#
    This project's `spark__` macros override dbt-spark's for the `local` and `thrift` targets.
    dbt's dispatch looks in the root project first, for each of the adapter's prefixes in turn
    (dbt/context/providers.py, BaseDatabaseWrapper.dispatch: packages outside, prefixes inside),
    so with dbt-databricks, whose prefixes are databricks, spark, default, a root `spark__`
    macro would also replace dbt-databricks's own `databricks__` one. Each override therefore
    starts with

        {%- if adapter.type() != 'spark' -%}
            {{ return(adapter_own_macro('<name>')(<its arguments>)) }}
        {%- endif -%}

    and a test checks that every `spark__` macro here does (tests/dags/test_databricks_offline.py).
#}

{#- The adapter's own implementation of dispatched macro `name`, this project's left out: the
    first of `<adapter type>__name`, `spark__name`, `default__name` among dbt's internal
    packages (dbt-core and the adapter plugins). Raises a compilation error when none exists. -#}
{% macro adapter_own_macro(name) -%}
    {%- for prefix in [adapter.type(), 'spark', 'default'] -%}
        {%- set found = dbt.get(prefix ~ '__' ~ name) -%}
        {%- if found is not none -%}
            {{ return(found) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no ' ~ adapter.type() ~ ' implementation of ' ~ name) }}
{%- endmacro %}
