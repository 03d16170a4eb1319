{#
    Two bounds on the three "most popular category" marts (ties kept: every category sharing a
    group's top count has a row), checked against the rows each mart counts:
    1. no mart row counts more posts than the deduplicated staging pins hold for its category,
       and every mart category exists in staging;
    2. every group of the mart's input (the same rows and filter as the mart) has rows in the
       mart and no other group does, and the group's top count times the number of distinct
       categories posted in that group is at least the group's post total (the largest of k
       counts is at least their mean). This is a necessary condition of a correct maximum, not a
       proof of one: assert_top_category_counts_are_group_maxima checks the exact maxima of the
       country mart.
    Returns one row per offending mart row (1) or group (2), named by failed_check.
#}
with

pins as (

    select
        category,
        count(*) as staged_count
    from {{ ref('stg_pinterest__pins') }}
    group by 1

),

pins_joined_to_geolocations as (

    select
        country,
        post_year,
        category
    from {{ ref('pins') }}

),

pins_joined_to_users as (

    select
        age_group,
        category
    from {{ ref('pins') }}

),

category_counts as (

    select
        'rpt_most_popular_category_by_year' as model_name,
        cast(post_year as string) as group_key,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_year') }}

    union all

    select
        'rpt_most_popular_category_by_country' as model_name,
        country as group_key,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_country') }}

    union all

    select
        'rpt_most_popular_category_by_age_group' as model_name,
        age_group as group_key,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_age_group') }}

),

group_totals as (

    select
        'rpt_most_popular_category_by_year' as model_name,
        cast(post_year as string) as group_key,
        count(*) as post_total,
        count(distinct category) as category_total
    from pins_joined_to_geolocations
    where
        post_year is not null
        and category is not null
    group by 1, 2

    union all

    select
        'rpt_most_popular_category_by_country' as model_name,
        country as group_key,
        count(*) as post_total,
        count(distinct category) as category_total
    from pins_joined_to_geolocations
    where
        country is not null
        and category is not null
    group by 1, 2

    union all

    select
        'rpt_most_popular_category_by_age_group' as model_name,
        age_group as group_key,
        count(*) as post_total,
        count(distinct category) as category_total
    from pins_joined_to_users
    where
        age_group is not null
        and category is not null
    group by 1, 2

),

top_counts as (

    select
        model_name,
        group_key,
        max(category_count) as top_count
    from category_counts
    group by 1, 2

),

counts_above_staging as (

    select
        category_counts.model_name,
        'category_count_above_staged_pins' as failed_check,
        category_counts.group_key,
        category_counts.category,
        category_counts.category_count as mart_count,
        pins.staged_count as bound,
        cast(null as bigint) as category_total
    from category_counts
    left join pins
        on category_counts.category = pins.category
    where
        pins.staged_count is null
        or category_counts.category_count > pins.staged_count

),

top_counts_below_group_total as (

    select
        coalesce(group_totals.model_name, top_counts.model_name) as model_name,
        'top_count_times_categories_below_group_total' as failed_check,
        coalesce(group_totals.group_key, top_counts.group_key) as group_key,
        cast(null as string) as category,
        top_counts.top_count as mart_count,
        group_totals.post_total as bound,
        group_totals.category_total
    from group_totals
    full outer join top_counts
        on
            group_totals.model_name = top_counts.model_name
            and group_totals.group_key = top_counts.group_key
    where
        group_totals.group_key is null
        or top_counts.group_key is null
        or top_counts.top_count * group_totals.category_total < group_totals.post_total

),

offenders as (

    select * from counts_above_staging

    union all

    select * from top_counts_below_group_total

)

select * from offenders
