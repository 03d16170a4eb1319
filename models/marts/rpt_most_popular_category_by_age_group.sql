with

pins_joined_to_users as (

    select
        age_group,
        category
    from {{ ref('int_pins_joined_to_users') }}
    where
        age_group is not null
        and category is not null

),

category_counts as (

    select
        age_group,
        category,
        count(*) as category_count
    from pins_joined_to_users
    group by 1, 2

),

category_counts_ranked as (

    select
        age_group,
        category,
        category_count,
        rank() over (partition by age_group order by category_count desc) as category_rank
    from category_counts

),

top_categories as (

    select
        age_group,
        category,
        category_count
    from category_counts_ranked
    where category_rank = 1

)

select * from top_categories
