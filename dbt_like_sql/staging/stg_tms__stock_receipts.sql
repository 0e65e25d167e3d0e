-- WMS stock snapshots as the TMS received them, with the seconds the snapshot took to arrive
-- (the wms->tms link).
with source as (

    select * from {{ source('tms', 'stock_receipts') }}
    where received_at >= :window_start and received_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.receipt_id,
        source.snapshot_id,
        source.product,
        source.on_hand,
        source.taken_at,
        source.received_at,
        extract(epoch from (source.received_at - source.taken_at)) as sync_lag_seconds,
        source.partition_key,
        calendar.local_date as received_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
