with

pins as (

    select
        age_group,
        follower_count
    from {{ ref('pins') }}
    where
        age_group is not null
        and follower_count is not null

),

medians as (

    select
        age_group,
        {{ lower_median('follower_count') }} as median_follower_count
    from pins
    group by 1

)

select * from medians
