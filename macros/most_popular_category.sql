{#
    The body of the three "most popular category by X" marts (AiCore queries Q1, Q2, Q4): the
    number of posts per (`group_column`, category) over the `pins` mart and, per group, every
    category with the top count (rank() = 1: ties kept). Pins without a `group_column` value or
    a category are left out. Columns: `group_column`, category, category_count (bigint >= 1).
#}
{% macro most_popular_category(group_column) -%}
with

pins as (

    select
        {{ group_column }},
        category
    from {{ ref('pins') }}
    where
        {{ group_column }} is not null
        and category is not null

),

category_counts as (

    select
        {{ group_column }},
        category,
        count(*) as category_count
    from pins
    group by 1, 2

),

category_counts_ranked as (

    select
        {{ group_column }},
        category,
        category_count,
        rank() over (
            partition by {{ group_column }} order by category_count desc
        ) as category_rank
    from category_counts

),

top_categories as (

    select
        {{ group_column }},
        category,
        category_count
    from category_counts_ranked
    where category_rank = 1

)

select * from top_categories
{%- endmacro %}
