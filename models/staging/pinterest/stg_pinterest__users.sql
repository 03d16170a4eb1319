with

source as (

    select * from {{ source('pinterest', 'user') }}

),

deduplicated as (

    {{ deduplicate_deliveries('source', 'ind') }}

),

cleaned as (

    select
        ind,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        age,
        {{ clean_text('date_joined') }} as date_joined_text,
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
        nullif(concat_ws(' ', first_name, last_name), '') as user_name,

        ---------- numerics
        age,

        ---------- timestamps
        {{ parse_timestamp('date_joined_text') }} as date_joined,

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
