with

pins as (

    select
        join_year,
        follower_count
    from {{ ref('pins') }}
    where
        join_year is not null
        and follower_count is not null

),

medians as (

    select
        join_year as post_year,
        {{ lower_median('follower_count') }} as median_follower_count
    from pins
    group by 1

)

select * from medians
