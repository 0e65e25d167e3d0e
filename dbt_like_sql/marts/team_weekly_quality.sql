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
    cast(run_minutes as double precision) / nullif(planned_minutes, 0) as availability,
    cast(ideal_minutes as double precision) / nullif(run_minutes, 0) as performance,
    cast(good_count as double precision) / nullif(total_count, 0) as quality_ratio,
    cast(good_ideal_minutes as double precision) / nullif(planned_minutes, 0) as oee,
    cast(good_count as double precision) / nullif(total_count, 0) as first_pass_yield,
    cast(rework_count as double precision) / nullif(total_count, 0) as rework_ratio,
    cast(scrap_count as double precision) / nullif(total_count, 0) as scrap_ratio,
    cast(downtime_minutes as double precision) / nullif(planned_minutes, 0) as downtime_rate,
    cast(changeover_actual_minutes as double precision) / nullif(run_minutes, 0) as setup_ratio,
    -- nothing planned, nothing to judge: people on shift in a planned stop are not 0 output
    case when planned_minutes > 0
        then cast(good_count as double precision) / nullif(person_hours_on_shift, 0)
    end as output_per_head,
    cast(fai_passed as double precision) / nullif(fai_total, 0) as first_article_pass_rate,
    cast(checks_completed as double precision) / nullif(checks_due, 0)
        as equipment_check_completion,
    cast(changeover_excess_minutes as double precision)
        / nullif(changeover_standard_minutes, 0) as changeover_deviation,
    nullif(substring(
        case when planned_minutes = 0 then '; no planned production time' else '' end
        || case when run_minutes = 0 then '; no run time' else '' end
        || case when total_count = 0 then '; no output' else '' end
        || case when person_hours_on_shift = 0 then '; no one on shift' else '' end
        || case when fai_total = 0 then '; no inspections' else '' end
        || case when checks_due = 0 then '; no checks due' else '' end
        || case
            when changeover_count = 0 then '; no changeovers'
            when changeover_standard_minutes = 0 then '; no changeover standard time'
            else ''
        end
        from 3), '') as null_reason
from quantities
