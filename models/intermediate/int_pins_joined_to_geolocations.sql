with

pins as (

    select
        ind,
        category,
        follower_count,
        poster_name
    from {{ ref('stg_pinterest__pins') }}

),

geolocations as (

    select
        ind,
        country,
        post_timestamp
    from {{ ref('stg_pinterest__geolocations') }}

),

pins_joined_to_geolocations as (

    select
        pins.ind,
        pins.category,
        pins.poster_name,
        pins.follower_count,
        geolocations.country,
        year(geolocations.post_timestamp) as post_year,
        geolocations.post_timestamp
    from pins
    inner join geolocations
        on pins.ind = geolocations.ind

)

select * from pins_joined_to_geolocations
