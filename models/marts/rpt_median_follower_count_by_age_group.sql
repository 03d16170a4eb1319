with

pins_joined_to_users as (

    select
        age_group,
        follower_count
    from {{ ref('int_pins_joined_to_users') }}
    where
        age_group is not null
        and follower_count is not null

),

medians as (

    select
        age_group,
        {{ lower_median('follower_count') }} as median_follower_count
    from pins_joined_to_users
    group by 1

)

select * from medians
