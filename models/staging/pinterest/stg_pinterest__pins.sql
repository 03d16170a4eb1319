with

deliveries as (

    {{ union_deliveries('pin') }}

),

cleaned as (

    select
        index,
        {{ clean_text('unique_id', 'unique_id') }} as unique_id,
        {{ clean_text('title', 'title') }} as title,
        {{ clean_text('description', 'description') }} as description,
        {{ clean_text('follower_count', 'follower_count') }} as follower_count,
        {{ clean_text('poster_name', 'poster_name') }} as poster_name,
        {{ clean_text('tag_list', 'tag_list') }} as tag_list,
        {{ clean_text('is_image_or_video', 'is_image_or_video') }} as is_image_or_video,
        {{ clean_text('image_src', 'image_src') }} as image_src,
        {{ clean_text('save_location', 'save_location') }} as save_location,
        {{ clean_text('category', 'category') }} as category,
        {{ delivery_metadata_columns() }}
    from deliveries

),

renamed as (

    {#- columns in the order the AiCore task prescribes; `downloaded` is dropped -#}
    select

        ---------- ids
        index as ind,
        unique_id,

        ---------- text and numerics
        title,
        description,
        {{ parse_follower_count('follower_count') }} as follower_count,
        poster_name,
        tag_list,
        is_image_or_video,
        image_src,
        {{ strip_save_location_prefix('save_location') }} as save_location,
        category,

        ---------- ingestion metadata
        {{ delivery_metadata_columns() }}

    from cleaned

),

deduplicated as (

    {{ kept_deliveries_since_last_run('renamed', 'ind') }}

)

select * from deduplicated
