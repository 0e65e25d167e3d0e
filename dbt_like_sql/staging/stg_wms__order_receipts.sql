-- Order lines as the WMS received them, with the seconds from release in the ERP to receipt in
-- the WMS (the erp->wms link).
with source as (

    select * from {{ source('wms', 'order_receipts') }}
    where received_at >= :window_start and received_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.receipt_id,
        source.line_id,
        source.released_at,
        source.received_at,
        extract(epoch from (source.received_at - source.released_at)) as receipt_lag_seconds,
        source.partition_key,
        calendar.local_date as received_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
