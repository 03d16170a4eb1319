{#
    rpt_country_with_most_followed_user has exactly one row when rpt_most_followed_user_by_country
    has any, and that row is the top row of it: the highest follower count, ties broken by the
    first country name. Returns one row describing the mismatch, or nothing.
#}
with

country_with_most_followed_user as (

    select
        country,
        follower_count
    from {{ ref('rpt_country_with_most_followed_user') }}

),

most_followed_user_by_country as (

    select
        country,
        follower_count
    from {{ ref('rpt_most_followed_user_by_country') }}

),

top_follower_count as (

    select max(follower_count) as follower_count
    from most_followed_user_by_country

),

expected_top_row as (

    select
        min(most_followed_user_by_country.country) as country,
        max(top_follower_count.follower_count) as follower_count
    from most_followed_user_by_country
    inner join top_follower_count
        on most_followed_user_by_country.follower_count = top_follower_count.follower_count

),

actual_summary as (

    select
        count(*) as actual_rows,
        min(country) as actual_country,
        min(follower_count) as actual_follower_count
    from country_with_most_followed_user

),

source_summary as (

    select count(*) as source_rows
    from most_followed_user_by_country

),

mismatches as (

    select
        actual_summary.actual_rows,
        source_summary.source_rows,
        actual_summary.actual_country,
        expected_top_row.country as expected_country,
        actual_summary.actual_follower_count,
        expected_top_row.follower_count as expected_follower_count
    from actual_summary
    cross join source_summary
    cross join expected_top_row
    where
        actual_summary.actual_rows != least(source_summary.source_rows, 1)
        or not (actual_summary.actual_country <=> expected_top_row.country)
        or not (actual_summary.actual_follower_count <=> expected_top_row.follower_count)

)

select * from mismatches
