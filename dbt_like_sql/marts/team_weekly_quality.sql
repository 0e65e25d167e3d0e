-- One row per production team and ISO week: the team's hours summed, then divided.
-- Ratios are recomputed from the summed quantities, never averaged from hourly ratios.
with hours as (

    select * from {{ ref('team_hourly_quality') }}
    where week_start >= :window_start and week_start < :window_end

),

quantities as (

    select
        team_id,
        line_id,
        iso_week,
        week_start,
        count(*) as team_hour_count,
        sum(planned_minutes) as planned_minutes,
        sum(run_minutes) as run_minutes,
        sum(downtime_minutes) as downtime_minutes,
        sum(ideal_minutes) as ideal_minutes,
        sum(good_ideal_minutes) as good_ideal_minutes,
        sum(total_count) as total_count,
        sum(good_count) as good_count,
        sum(rework_count) as rework_count,
        sum(scrap_count) as scrap_count,
        sum(fai_total) as fai_total,
        sum(fai_passed) as fai_passed,
        sum(checks_due) as checks_due,
        sum(checks_completed) as checks_completed,
        sum(changeover_count) as changeover_count,
        sum(changeover_standard_minutes) as changeover_standard_minutes,
        sum(changeover_actual_minutes) as changeover_actual_minutes,
        sum(changeover_excess_minutes) as changeover_excess_minutes,
        sum(person_hours_on_shift) as person_hours_on_shift
    from hours
    group by
        team_id,
        line_id,
        iso_week,
        week_start

)

select
    team_id,
    line_id,
    iso_week,
    week_start,
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
