with

most_followed_user_by_country as (

    select
        country,
        follower_count
    from {{ ref('rpt_most_followed_user_by_country') }}

),

top_country as (

    select
        country,
        follower_count
    from most_followed_user_by_country
    order by 2 desc, 1 asc
    limit 1

)

select * from top_country
