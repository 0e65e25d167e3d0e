-- Contract renewals closed in the CRM, with the local date they closed.
with source as (

    select * from {{ source('crm', 'renewals') }}
    where closed_at >= :window_start and closed_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.renewal_id,
        source.account_id,
        source.contract_id,
        source.owner_id,
        source.closed_at,
        source.amount,
        source.status,
        source.partition_key,
        calendar.local_date,
        calendar.day_start,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
