-- Warehouse stock movements (picks for order lines).
with source as (

    select * from {{ source('wms', 'stock_movements') }}
    where moved_at >= :window_start and moved_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.movement_id,
        source.product,
        source.kind,
        source.quantity,
        source.line_id,
        source.moved_at,
        source.partition_key,
        calendar.local_date as moved_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
