-- The hourly stock snapshots the WMS publishes to the TMS.
with source as (

    select * from {{ source('wms', 'stock_snapshots') }}
    where taken_at >= :window_start and taken_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.snapshot_id,
        source.product,
        source.on_hand,
        source.taken_at,
        source.partition_key,
        calendar.local_date as taken_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
