-- One row per production line and local hour: the delivery chain as the line's customers
-- feel it. Order lines promised in the hour and how many of them shipped late (after the
-- promise, or not shipped yet); the TMS dispatches of those lines and how many loaded as
-- planned, with the age of the stock they were planned on (the wms->tms link as the TMS
-- lived it); and the longest wait of the hour's order lines between release in the ERP
-- and receipt in the WMS (the erp->wms link). Everything is counted at the hour of the
-- promise, so a window's run needs only the dispatches planned before it.
with calendar as (

    select * from {{ source('plant', 'calendar') }}
    where hour_start >= :window_start and hour_start < :window_end

),

lines as (

    select distinct line_id
    from {{ ref('stg_hr__teams') }}
    where is_production_team = 1

),

line_hours as (

    select
        lines.line_id,
        calendar.partition_key,
        calendar.hour_start,
        calendar.hour_end,
        calendar.local_date,
        calendar.local_hour,
        calendar.day_start
    from calendar
    cross join lines

),

orders as (

    select
        order_lines.production_line_id as line_id,
        order_lines.partition_key,
        count(*) as lines_due,
        sum(case when order_lines.shipped_at is null
                  or order_lines.shipped_at > order_lines.promised_ship_at
                 then 1 else 0 end) as lines_late,
        count(dispatches.dispatch_id) as dispatches,
        sum(dispatches.is_accurate) as dispatches_accurate,
        max(dispatches.stock_age_seconds) / 3600.0 as stock_age_max_h,
        avg(dispatches.stock_age_seconds) / 3600.0 as stock_age_avg_h,
        max(receipts.receipt_lag_seconds) / 3600.0 as order_receipt_lag_max_h
    from {{ ref('stg_erp__order_lines') }} as order_lines
    left join {{ ref('stg_tms__dispatches') }} as dispatches
        on dispatches.dispatch_id = order_lines.dispatch_id
    left join {{ ref('stg_wms__order_receipts') }} as receipts
        on receipts.line_id = order_lines.line_id
    where order_lines.promised_ship_at >= :window_start
        and order_lines.promised_ship_at < :window_end
    group by order_lines.production_line_id, order_lines.partition_key

)

select
    line_hours.line_id,
    line_hours.partition_key,
    line_hours.hour_start,
    line_hours.hour_end,
    line_hours.local_date,
    line_hours.local_hour,
    line_hours.day_start,
    coalesce(orders.lines_due, 0) as lines_due,
    coalesce(orders.lines_late, 0) as lines_late,
    coalesce(orders.lines_due, 0) - coalesce(orders.lines_late, 0) as lines_on_time,
    cast(coalesce(orders.lines_due, 0) - coalesce(orders.lines_late, 0) as double precision)
        / nullif(orders.lines_due, 0) as on_time_delivery_rate,
    cast(orders.lines_late as double precision) / nullif(orders.lines_due, 0)
        as delivery_delay_rate,
    coalesce(orders.dispatches, 0) as dispatches,
    coalesce(orders.dispatches_accurate, 0) as dispatches_accurate,
    cast(orders.dispatches_accurate as double precision)
        / nullif(orders.dispatches, 0) as dispatch_accuracy,
    orders.stock_age_max_h,
    orders.stock_age_avg_h,
    orders.order_receipt_lag_max_h,
    case
        when orders.lines_due is null then 'no order lines due, no dispatches'
        when orders.dispatches = 0 then 'no dispatches'
    end as null_reason
from line_hours
left join orders
    on orders.line_id = line_hours.line_id and orders.partition_key = line_hours.partition_key
