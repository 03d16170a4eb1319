with

pins as (

    select
        join_year,
        age_group,
        follower_count
    from {{ ref('pins') }}
    where
        join_year is not null
        and age_group is not null
        and follower_count is not null

),

medians as (

    select
        join_year as post_year,
        age_group,
        {{ lower_median('follower_count') }} as median_follower_count
    from pins
    group by 1, 2

)

select * from medians
