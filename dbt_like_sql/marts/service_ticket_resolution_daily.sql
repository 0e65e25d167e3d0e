-- One row per local date: service tickets opened and resolved (by the local date of
-- resolved_at), their resolution hours, and tickets still open at the end of the day
-- (the end of its last calendar hour loaded so far).
with calendar as (

    select * from {{ source('plant', 'calendar') }}
    where day_start >= :window_start and day_start < :window_end

),

days as (

    select
        local_date,
        min(day_start) as day_start,
        max(hour_end) as last_hour_end
    from calendar
    group by local_date

),

tickets as (

    select * from {{ ref('stg_crm__service_tickets') }}

),

opened as (

    select days.local_date, count(*) as opened_tickets
    from days
    inner join tickets
        on tickets.opened_at >= days.day_start
        and tickets.opened_at < days.last_hour_end
    group by days.local_date

),

resolved as (

    select
        days.local_date,
        count(*) as resolved_tickets,
        sum(tickets.resolution_seconds) / 3600.0 as resolution_hours_total
    from days
    inner join tickets
        on tickets.resolved_at >= days.day_start
        and tickets.resolved_at < days.last_hour_end
    group by days.local_date

),

still_open as (

    select days.local_date, count(*) as open_tickets
    from days
    inner join tickets
        on tickets.opened_at < days.last_hour_end
        and (tickets.resolved_at is null or tickets.resolved_at >= days.last_hour_end)
    group by days.local_date

)

select
    days.local_date,
    days.day_start,
    coalesce(opened.opened_tickets, 0) as opened_tickets,
    coalesce(resolved.resolved_tickets, 0) as resolved_tickets,
    coalesce(resolved.resolution_hours_total, 0) as resolution_hours_total,
    cast(resolved.resolution_hours_total as double precision)
        / nullif(resolved.resolved_tickets, 0) as avg_resolution_hours,
    coalesce(still_open.open_tickets, 0) as open_tickets,
    case when resolved.resolved_tickets is null then 'no resolved tickets' end as null_reason
from days
left join opened on opened.local_date = days.local_date
left join resolved on resolved.local_date = days.local_date
left join still_open on still_open.local_date = days.local_date
