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
        _topic,
        _partition,
        _offset,
        _source_file,
        _load_id,
        _ingested_at
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
        _topic,
        _partition,
        _offset,
        _source_file,
        _load_id,
        _ingested_at

    from cleaned

)

select * from renamed
