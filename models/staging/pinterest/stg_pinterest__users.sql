with

deliveries as (

    {{ union_deliveries('user') }}

),

cleaned as (

    select
        ind,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        age,
        {{ clean_text('date_joined') }} as date_joined_text,
        {{ delivery_metadata_columns() }}
    from deliveries

),

renamed as (

    select

        ---------- ids
        ind,

        ---------- text
        nullif(concat_ws(' ', first_name, last_name), '') as user_name,

        ---------- numerics
        -- an age outside 0..130 is not an age (it would land in the '+50' group): null
        case when age between 0 and 130 then age end as age,

        ---------- timestamps
        {{ parse_timestamp('date_joined_text') }} as date_joined,

        ---------- ingestion metadata
        {{ delivery_metadata_columns() }}

    from cleaned

),

deduplicated as (

    {{ kept_deliveries_since_last_run('renamed', 'ind') }}

)

select * from deduplicated
