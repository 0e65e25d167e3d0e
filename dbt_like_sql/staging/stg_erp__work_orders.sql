-- Work orders with their closure time in seconds (null while open).
with source as (

    select * from {{ source('erp', 'work_orders') }}
    where released_at >= :window_start and released_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.work_order_id,
        source.team_id,
        source.product,
        source.quantity,
        source.released_at,
        source.closed_at,
        source.status,
        -- seconds between two timestamps: the one form that both databases agree on
        extract(epoch from (source.closed_at - source.released_at)) as closure_seconds,
        source.partition_key,
        calendar.local_date as released_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
