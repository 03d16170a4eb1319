with

deliveries as (

    {{ union_deliveries('geo') }}

),

cleaned as (

    select
        ind,
        {{ clean_text('country') }} as country,
        latitude,
        longitude,
        {{ clean_text('`timestamp`') }} as post_timestamp_text,
        {{ delivery_metadata_columns() }}
    from deliveries

),

renamed as (

    select

        ---------- ids
        ind,

        ---------- text
        country,

        ---------- numerics
        -- a pair off the globe is not a position: null (land rejected NaN and infinities)
        case
            when latitude between -90 and 90 and longitude between -180 and 180
                then array(latitude, longitude)
        end as coordinates,

        ---------- timestamps
        {{ parse_timestamp('post_timestamp_text') }} as post_timestamp,

        ---------- ingestion metadata
        {{ delivery_metadata_columns() }}

    from cleaned

),

deduplicated as (

    {{ kept_deliveries_since_last_run('renamed', 'ind') }}

)

select * from deduplicated
