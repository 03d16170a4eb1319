with

source as (

    select * from {{ source('pinterest', 'geo') }}

),

deduplicated as (

    {{ deduplicate_deliveries('source', 'ind') }}

),

cleaned as (

    select
        ind,
        {{ clean_text('country') }} as country,
        latitude,
        longitude,
        {{ clean_text('`timestamp`') }} as post_timestamp_text,
        {{ ingestion_metadata_columns() }}
    from deduplicated

),

renamed as (

    select

        ---------- ids
        ind,

        ---------- text
        country,

        ---------- numerics
        array(latitude, longitude) as coordinates,

        ---------- timestamps
        {{ parse_timestamp('post_timestamp_text') }} as post_timestamp,

        ---------- ingestion metadata
        {{ ingestion_metadata_columns() }}

    from cleaned

)

select * from renamed
