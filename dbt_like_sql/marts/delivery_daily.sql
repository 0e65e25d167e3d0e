-- One row per production line and local date: the hours of delivery_hourly summed and
-- every ratio divided again (never an average of hourly ratios).
with hours as (

    select * from {{ ref('delivery_hourly') }}
    where day_start >= :window_start and day_start < :window_end

),

days as (

    select
        line_id,
        local_date,
        min(day_start) as day_start,
        sum(lines_due) as lines_due,
        sum(lines_late) as lines_late,
        sum(lines_on_time) as lines_on_time,
        sum(dispatches) as dispatches,
        sum(dispatches_accurate) as dispatches_accurate,
        max(stock_age_max_h) as stock_age_max_h,
        max(order_receipt_lag_max_h) as order_receipt_lag_max_h
    from hours
    group by line_id, local_date

)

select
    days.*,
    cast(lines_on_time as double precision) / nullif(lines_due, 0) as on_time_delivery_rate,
    cast(lines_late as double precision) / nullif(lines_due, 0) as delivery_delay_rate,
    cast(dispatches_accurate as double precision) / nullif(dispatches, 0) as dispatch_accuracy,
    case
        when lines_due = 0 then 'no order lines due, no dispatches'
        when dispatches = 0 then 'no dispatches'
    end as null_reason
from days
