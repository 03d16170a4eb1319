with

pins_joined_to_users as (

    select
        join_year,
        follower_count
    from {{ ref('int_pins_joined_to_users') }}
    where
        join_year is not null
        and follower_count is not null

),

medians as (

    select
        join_year as post_year,
        {{ lower_median('follower_count') }} as median_follower_count
    from pins_joined_to_users
    group by 1

)

select * from medians
