with

users as (

    select
        user_name,
        date_joined
    from {{ ref('stg_pinterest__users') }}
    where
        user_name is not null
        and date_joined is not null

),

first_joins as (

    select
        user_name,
        min(date_joined) as first_joined_at
    from users
    group by 1

),

users_joined_by_year as (

    select
        year(first_joined_at) as post_year,
        count(*) as number_users_joined
    from first_joins
    group by 1

)

select * from users_joined_by_year
