{#
    Ties kept, nothing missed: for every country, the rows of rpt_most_popular_category_by_country
    are exactly the categories whose post count (pin joined to geo) equals the country's maximum.
    Returns categories that are missing from, or wrongly in, the mart.
#}
with

pins_joined_to_geolocations as (

    select
        country,
        category
    from {{ ref('pins') }}
    where
        country is not null
        and category is not null

),

most_popular_category_by_country as (

    select
        country,
        category,
        category_count
    from {{ ref('rpt_most_popular_category_by_country') }}

),

category_counts as (

    select
        country,
        category,
        count(*) as category_count
    from pins_joined_to_geolocations
    group by 1, 2

),

country_maxima as (

    select
        country,
        max(category_count) as max_category_count
    from category_counts
    group by 1

),

expected_rows as (

    select
        category_counts.country,
        category_counts.category,
        category_counts.category_count
    from category_counts
    inner join country_maxima
        on
            category_counts.country = country_maxima.country
            and category_counts.category_count = country_maxima.max_category_count

),

differences as (

    select
        coalesce(expected_rows.country, most_popular_category_by_country.country) as country,
        coalesce(expected_rows.category, most_popular_category_by_country.category) as category,
        expected_rows.category_count as expected_count,
        most_popular_category_by_country.category_count as actual_count
    from expected_rows
    full outer join most_popular_category_by_country
        on
            expected_rows.country = most_popular_category_by_country.country
            and expected_rows.category = most_popular_category_by_country.category
    where
        expected_rows.category_count is null
        or most_popular_category_by_country.category_count is null
        or expected_rows.category_count != most_popular_category_by_country.category_count

)

select * from differences
