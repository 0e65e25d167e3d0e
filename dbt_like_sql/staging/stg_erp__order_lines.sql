-- Order lines with the local date of their promise and how late they shipped (seconds after
-- the promise; null while open).
with source as (

    select * from {{ source('erp', 'order_lines') }}
    where promised_ship_at >= :window_start and promised_ship_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.line_id,
        source.order_id,
        source.account_id,
        source.product,
        source.production_line_id,
        source.quantity,
        source.released_at,
        source.promised_ship_at,
        source.shipped_at,
        source.dispatch_id,
        source.status,
        extract(epoch from (source.shipped_at - source.promised_ship_at)) as ship_delay_seconds,
        source.partition_key,
        calendar.local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
