with

pins as (

    select
        ind,
        category,
        follower_count,
        poster_name
    from {{ ref('stg_pinterest__pins') }}

),

users as (

    select
        ind,
        user_name,
        age,
        date_joined
    from {{ ref('stg_pinterest__users') }}

),

pins_joined_to_users as (

    select
        pins.ind,
        pins.category,
        pins.poster_name,
        pins.follower_count,
        users.user_name,
        users.age,
        {{ age_group('users.age') }} as age_group,
        year(users.date_joined) as join_year,
        users.date_joined
    from pins
    inner join users
        on pins.ind = users.ind

)

select * from pins_joined_to_users
