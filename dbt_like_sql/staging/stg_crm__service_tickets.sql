-- Customer service tickets with their resolution time in seconds (null while open).
with source as (

    select * from {{ source('crm', 'service_tickets') }}
    where opened_at >= :window_start and opened_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.ticket_id,
        source.account_id,
        source.opened_at,
        source.resolved_at,
        extract(epoch from (source.resolved_at - source.opened_at)) as resolution_seconds,
        source.priority,
        source.category,
        source.subject,
        source.partition_key,
        calendar.local_date as opened_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
