with

pins_joined_to_geolocations as (

    select
        country,
        category
    from {{ ref('int_pins_joined_to_geolocations') }}
    where
        country is not null
        and category is not null

),

category_counts as (

    select
        country,
        category,
        count(*) as category_count
    from pins_joined_to_geolocations
    group by 1, 2

),

category_counts_ranked as (

    select
        country,
        category,
        category_count,
        rank() over (partition by country order by category_count desc) as category_rank
    from category_counts

),

top_categories as (

    select
        country,
        category,
        category_count
    from category_counts_ranked
    where category_rank = 1

)

select * from top_categories
