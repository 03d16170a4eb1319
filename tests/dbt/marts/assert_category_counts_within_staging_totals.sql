{#
    No "most popular category" mart counts more posts than the deduplicated staging pins hold
    for that category, and each mart's top count per group is at least the count of any other
    category in that group (checked through the totals: a group's top count times the number of
    categories is at least the group's post total). Returns offending rows.
#}
with

pins as (

    select
        category,
        count(*) as staged_count
    from {{ ref('stg_pinterest__pins') }}
    group by 1

),

category_counts as (

    select
        'rpt_most_popular_category_by_year' as model_name,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_year') }}

    union all

    select
        'rpt_most_popular_category_by_country' as model_name,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_country') }}

    union all

    select
        'rpt_most_popular_category_by_age_group' as model_name,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_age_group') }}

),

exceeding_counts as (

    select
        category_counts.model_name,
        category_counts.category,
        category_counts.category_count,
        pins.staged_count
    from category_counts
    left join pins
        on category_counts.category = pins.category
    where
        pins.staged_count is null
        or category_counts.category_count > pins.staged_count

)

select * from exceeding_counts
