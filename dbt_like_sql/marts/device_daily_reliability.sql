-- One row per device and local date: failures, repair minutes, operating minutes, MTBF
-- and MTTR. A failure counts on the local date it occurred; its repair time runs to the
-- device's next event if that event is a repair (else the failure is still open).
with days as (

    select distinct local_date, day_start
    from {{ source('plant', 'calendar') }}
    where day_start >= :window_start and day_start < :window_end

),

events as (

    select * from {{ ref('stg_mes__equipment_events') }}

),

devices as (

    select
        device_id,
        max(device_type) as device_type,
        max(station_id) as station_id,
        max(team_id) as team_id
    from events
    group by device_id

),

station_days as (

    select
        station_id,
        local_date,
        sum(planned_minutes) as planned_minutes
    from {{ ref('stg_mes__production') }}
    where day_start >= :window_start and day_start < :window_end
    group by station_id, local_date

),

failures_and_repairs as (

    select
        device_id,
        event_id,
        event_type,
        occurred_at,
        local_date,
        day_start,
        lead(event_type) over (
            partition by device_id order by occurred_at, event_id
        ) as next_event_type,
        lead(occurred_at) over (
            partition by device_id order by occurred_at, event_id
        ) as next_occurred_at
    from events
    where event_type in ('failure', 'repair')

),

failures as (

    select
        device_id,
        local_date,
        event_id,
        case
            when next_event_type = 'repair'
                then extract(epoch from (next_occurred_at - occurred_at)) / 60.0
        end as repair_minutes
    from failures_and_repairs
    where event_type = 'failure'
        and day_start >= :window_start and day_start < :window_end

),

daily_failures as (

    select
        device_id,
        local_date,
        count(*) as failures,
        count(repair_minutes) as repaired_failures,
        sum(repair_minutes) as repair_minutes
    from failures
    group by device_id, local_date

),

device_days as (

    select devices.device_id, station_days.local_date
    from devices
    inner join station_days on station_days.station_id = devices.station_id

    union

    select device_id, local_date
    from daily_failures

),

quantities as (

    select
        device_days.device_id,
        devices.device_type,
        devices.station_id,
        devices.team_id,
        device_days.local_date,
        days.day_start,
        coalesce(station_days.planned_minutes, 0) as planned_minutes,
        coalesce(daily_failures.failures, 0) as failures,
        coalesce(daily_failures.repaired_failures, 0) as repaired_failures,
        coalesce(daily_failures.repair_minutes, 0) as repair_minutes
    from device_days
    inner join days on days.local_date = device_days.local_date
    inner join devices on devices.device_id = device_days.device_id
    left join station_days
        on station_days.station_id = devices.station_id
        and station_days.local_date = device_days.local_date
    left join daily_failures
        on daily_failures.device_id = device_days.device_id
        and daily_failures.local_date = device_days.local_date

)

select
    quantities.device_id,
    quantities.device_type,
    quantities.station_id,
    quantities.team_id,
    teams.line_id,
    quantities.local_date,
    quantities.day_start,
    quantities.planned_minutes,
    quantities.failures,
    quantities.repaired_failures,
    quantities.failures - quantities.repaired_failures as open_failures,
    quantities.repair_minutes,
    quantities.planned_minutes - quantities.repair_minutes as operating_minutes,
    cast(quantities.planned_minutes - quantities.repair_minutes as double precision)
        / nullif(quantities.failures, 0) as mtbf_minutes,
    cast(quantities.repair_minutes as double precision)
        / nullif(quantities.repaired_failures, 0) as mttr_minutes,
    case
        when quantities.failures = 0 then 'no failures'
        when quantities.repaired_failures = 0 then 'no repaired failures'
    end as null_reason
from quantities
left join {{ ref('stg_hr__teams') }} as teams on teams.team_id = quantities.team_id
