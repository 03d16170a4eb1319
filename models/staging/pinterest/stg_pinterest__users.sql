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
        {{ ingestion_metadata_columns() }}
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
        {{ ingestion_metadata_columns() }}

    from cleaned

)

select * from renamed
