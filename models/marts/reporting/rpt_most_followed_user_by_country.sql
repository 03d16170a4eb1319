with

pins as (

    select
        country,
        poster_name,
        follower_count
    from {{ ref('pins') }}
    where
        country is not null
        and poster_name is not null
        and follower_count is not null

),

posters_ranked as (

    select
        country,
        poster_name,
        follower_count,
        rank() over (partition by country order by follower_count desc) as follower_rank
    from pins

),

most_followed_posters as (

    select distinct
        country,
        poster_name,
        follower_count
    from posters_ranked
    where follower_rank = 1

)

select * from most_followed_posters
