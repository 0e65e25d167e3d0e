-- One row per production team and shift (day 08-20, night 20-08 local); a night
-- shift belongs to the date it started, so 22:00-01:00 is one shift.
-- Ratios are recomputed from the summed quantities, never averaged from hourly ratios.
with hours as (

    select * from {{ ref('team_hourly_quality') }}
    where shift_start >= :window_start and shift_start < :window_end

),

quantities as (

    select
        team_id,
        line_id,
        shift_date,
        shift,
        shift_start,
        count(*) as team_hour_count,
        {{ include('summed_quantities') }}
    from hours
    group by
        team_id,
        line_id,
        shift_date,
        shift,
        shift_start

)

select
    team_id,
    line_id,
    shift_date,
    shift,
    shift_start,
    team_hour_count,
    planned_minutes,
    run_minutes,
    downtime_minutes,
    ideal_minutes,
    good_ideal_minutes,
    total_count,
    good_count,
    rework_count,
    scrap_count,
    fai_total,
    fai_passed,
    checks_due,
    checks_completed,
    changeover_count,
    changeover_standard_minutes,
    changeover_actual_minutes,
    changeover_excess_minutes,
    person_hours_on_shift,
    {{ include('quality_ratios') }}
from quantities
