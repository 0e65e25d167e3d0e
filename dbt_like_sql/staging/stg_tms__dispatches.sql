-- TMS dispatches with the age of the stock they were planned on (seconds from the snapshot to
-- planning) and whether they loaded as planned.
with source as (

    select * from {{ source('tms', 'dispatches') }}
    where planned_at >= :window_start and planned_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.dispatch_id,
        source.line_id,
        source.product,
        source.planned_quantity,
        source.loaded_quantity,
        source.planned_at,
        source.stock_taken_at,
        source.status,
        extract(epoch from (source.planned_at - source.stock_taken_at)) as stock_age_seconds,
        case when source.status = 'loaded' then 1 else 0 end as is_accurate,
        source.partition_key,
        calendar.local_date as planned_local_date,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
