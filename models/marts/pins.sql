with

pins as (

    select
        ind,
        unique_id,
        title,
        description,
        follower_count,
        poster_name,
        tag_list,
        is_image_or_video,
        image_src,
        save_location,
        category
    from {{ ref('stg_pinterest__pins') }}

),

geolocations as (

    select
        ind,
        country,
        coordinates,
        post_timestamp
    from {{ ref('stg_pinterest__geolocations') }}

),

users as (

    select
        ind,
        user_name,
        age,
        date_joined
    from {{ ref('stg_pinterest__users') }}

),

age_groups as (

    select
        age_group,
        min_age,
        max_age
    from {{ ref('age_groups') }}

),

pins_enriched as (

    select

        ---------- ids
        pins.ind,
        pins.unique_id,

        ---------- the pin
        pins.title,
        pins.description,
        pins.category,
        pins.tag_list,
        pins.is_image_or_video,
        pins.image_src,
        pins.save_location,
        pins.poster_name,
        pins.follower_count,

        ---------- where and when it was posted (geolocation)
        geolocations.country,
        geolocations.coordinates[0] as latitude,
        geolocations.coordinates[1] as longitude,
        geolocations.post_timestamp,
        year(geolocations.post_timestamp) as post_year,

        ---------- who posted it (user)
        users.user_name,
        users.age,
        age_groups.age_group,
        users.date_joined,
        year(users.date_joined) as join_year

    from pins
    left join geolocations
        on pins.ind = geolocations.ind
    left join users
        on pins.ind = users.ind
    left join age_groups
        on
            users.age >= age_groups.min_age
            and (age_groups.max_age is null or users.age <= age_groups.max_age)

)

select * from pins_enriched
