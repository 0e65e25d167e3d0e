-- One row per production team and local date: work orders released, closed (by the local
-- date of closed_at), their closure hours, and orders still open at the end of the day.
-- A day's end is the end of its last calendar hour loaded so far, so for the current day
-- "open" means open now.
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

teams as (

    select * from {{ ref('stg_hr__teams') }}
    where is_production_team = 1

),

orders as (

    select * from {{ ref('stg_erp__work_orders') }}

),

team_days as (

    select teams.team_id, teams.line_id, days.*
    from days
    cross join teams

),

released as (

    select
        team_days.team_id,
        team_days.local_date,
        count(*) as released_orders
    from team_days
    inner join orders
        on orders.team_id = team_days.team_id
        and orders.released_at >= team_days.day_start
        and orders.released_at < team_days.last_hour_end
    group by team_days.team_id, team_days.local_date

),

closed as (

    select
        team_days.team_id,
        team_days.local_date,
        count(*) as closed_orders,
        sum(orders.closure_seconds) / 3600.0 as closure_hours_total
    from team_days
    inner join orders
        on orders.team_id = team_days.team_id
        and orders.closed_at >= team_days.day_start
        and orders.closed_at < team_days.last_hour_end
    group by team_days.team_id, team_days.local_date

),

still_open as (

    select
        team_days.team_id,
        team_days.local_date,
        count(*) as open_orders
    from team_days
    inner join orders
        on orders.team_id = team_days.team_id
        and orders.released_at < team_days.last_hour_end
        and (orders.closed_at is null or orders.closed_at >= team_days.last_hour_end)
    group by team_days.team_id, team_days.local_date

)

select
    team_days.team_id,
    team_days.line_id,
    team_days.local_date,
    team_days.day_start,
    coalesce(released.released_orders, 0) as released_orders,
    coalesce(closed.closed_orders, 0) as closed_orders,
    coalesce(closed.closure_hours_total, 0) as closure_hours_total,
    cast(closed.closure_hours_total as double precision) / nullif(closed.closed_orders, 0)
        as avg_closure_hours,
    coalesce(still_open.open_orders, 0) as open_orders,
    case when closed.closed_orders is null then 'no closed orders' end as null_reason
from team_days
left join released
    on released.team_id = team_days.team_id and released.local_date = team_days.local_date
left join closed
    on closed.team_id = team_days.team_id and closed.local_date = team_days.local_date
left join still_open
    on still_open.team_id = team_days.team_id and still_open.local_date = team_days.local_date
