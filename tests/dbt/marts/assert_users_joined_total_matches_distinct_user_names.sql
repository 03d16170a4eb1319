{#
    The total of rpt_users_joined_by_year equals the number of distinct non-null user names with
    a join date in stg_pinterest__users: a total check, so it catches names counted more than
    once (e.g. once per join date) or dropped, unless both happen and cancel out. Returns the two
    numbers when they differ.
#}
with

users as (

    select
        user_name,
        date_joined
    from {{ ref('stg_pinterest__users') }}

),

users_joined_by_year as (

    select number_users_joined
    from {{ ref('rpt_users_joined_by_year') }}

),

totals as (

    select
        (
            select count(distinct user_name)
            from users
            where date_joined is not null
        ) as distinct_user_names,
        (select sum(number_users_joined) from users_joined_by_year) as users_joined

)

select *
from totals
where distinct_user_names != coalesce(users_joined, 0)
