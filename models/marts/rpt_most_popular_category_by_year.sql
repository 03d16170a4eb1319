with

pins_joined_to_geolocations as (

    select
        post_year,
        category
    from {{ ref('int_pins_joined_to_geolocations') }}
    where
        post_year is not null
        and category is not null

),

category_counts as (

    select
        post_year,
        category,
        count(*) as category_count
    from pins_joined_to_geolocations
    group by 1, 2

),

category_counts_ranked as (

    select
        post_year,
        category,
        category_count,
        rank() over (partition by post_year order by category_count desc) as category_rank
    from category_counts

),

top_categories as (

    select
        post_year,
        category,
        category_count
    from category_counts_ranked
    where category_rank = 1

)

select * from top_categories
