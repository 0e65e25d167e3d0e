-- One row per production team and local hour: the quantities behind every team metric
-- and the metrics themselves. Rows exist for every calendar hour of every production
-- team, so an hour without production reads as null metrics with a reason, not as 0%.
with calendar as (

    select * from {{ source('plant', 'calendar') }}
    where hour_start >= :window_start and hour_start < :window_end

),

teams as (

    select * from {{ ref('stg_hr__teams') }}
    where is_production_team = 1

),

team_hours as (

    select
        teams.team_id,
        teams.line_id,
        calendar.partition_key,
        calendar.hour_start,
        calendar.hour_end,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.shift_start,
        calendar.day_start,
        calendar.iso_week,
        calendar.week_start
    from calendar
    cross join teams

),

production as (

    select
        team_id,
        partition_key,
        sum(planned_minutes) as planned_minutes,
        sum(run_minutes) as run_minutes,
        sum(downtime_minutes) as downtime_minutes,
        sum(ideal_minutes) as ideal_minutes,
        sum(good_ideal_minutes) as good_ideal_minutes,
        sum(total_count) as total_count,
        sum(good_count) as good_count,
        sum(rework_count) as rework_count,
        sum(scrap_count) as scrap_count
    from {{ ref('stg_mes__production') }}
    where hour_start >= :window_start and hour_start < :window_end
    group by team_id, partition_key

),

inspections as (

    select
        team_id,
        partition_key,
        count(*) as fai_total,
        sum(is_pass) as fai_passed
    from {{ ref('stg_mes__first_article_inspections') }}
    where inspected_at >= :window_start and inspected_at < :window_end
    group by team_id, partition_key

),

checks as (

    select
        team_id,
        partition_key,
        count(*) as checks_due,
        sum(is_completed) as checks_completed
    from {{ ref('stg_mes__equipment_checks') }}
    where due_at >= :window_start and due_at < :window_end
    group by team_id, partition_key

),

changeovers as (

    select
        team_id,
        partition_key,
        count(*) as changeover_count,
        sum(standard_minutes) as changeover_standard_minutes,
        sum(actual_minutes) as changeover_actual_minutes,
        sum(excess_minutes) as changeover_excess_minutes
    from {{ ref('stg_mes__changeovers') }}
    where started_at >= :window_start and started_at < :window_end
    group by team_id, partition_key

),

headcount as (

    select
        team_hours.team_id,
        team_hours.partition_key,
        count(*) as headcount_on_shift
    from team_hours
    inner join {{ ref('stg_hr__employees') }} as employees
        on employees.team_id = team_hours.team_id
        and employees.shift = team_hours.shift
        and employees.hired_at < team_hours.hour_end
    group by team_hours.team_id, team_hours.partition_key

),

quantities as (

    select
        team_hours.*,
        coalesce(production.planned_minutes, 0) as planned_minutes,
        coalesce(production.run_minutes, 0) as run_minutes,
        coalesce(production.downtime_minutes, 0) as downtime_minutes,
        coalesce(production.ideal_minutes, 0) as ideal_minutes,
        coalesce(production.good_ideal_minutes, 0) as good_ideal_minutes,
        coalesce(production.total_count, 0) as total_count,
        coalesce(production.good_count, 0) as good_count,
        coalesce(production.rework_count, 0) as rework_count,
        coalesce(production.scrap_count, 0) as scrap_count,
        coalesce(inspections.fai_total, 0) as fai_total,
        coalesce(inspections.fai_passed, 0) as fai_passed,
        coalesce(checks.checks_due, 0) as checks_due,
        coalesce(checks.checks_completed, 0) as checks_completed,
        coalesce(changeovers.changeover_count, 0) as changeover_count,
        coalesce(changeovers.changeover_standard_minutes, 0) as changeover_standard_minutes,
        coalesce(changeovers.changeover_actual_minutes, 0) as changeover_actual_minutes,
        coalesce(changeovers.changeover_excess_minutes, 0) as changeover_excess_minutes,
        coalesce(headcount.headcount_on_shift, 0) as headcount_on_shift,
        -- one hour per row, so person-hours equal the headcount; rollups sum this column
        coalesce(headcount.headcount_on_shift, 0) as person_hours_on_shift
    from team_hours
    left join production
        on production.team_id = team_hours.team_id
        and production.partition_key = team_hours.partition_key
    left join inspections
        on inspections.team_id = team_hours.team_id
        and inspections.partition_key = team_hours.partition_key
    left join checks
        on checks.team_id = team_hours.team_id
        and checks.partition_key = team_hours.partition_key
    left join changeovers
        on changeovers.team_id = team_hours.team_id
        and changeovers.partition_key = team_hours.partition_key
    left join headcount
        on headcount.team_id = team_hours.team_id
        and headcount.partition_key = team_hours.partition_key

)

select
    team_id,
    line_id,
    partition_key,
    hour_start,
    hour_end,
    local_date,
    local_hour,
    shift,
    shift_date,
    shift_start,
    day_start,
    iso_week,
    week_start,
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
    headcount_on_shift,
    person_hours_on_shift,
    {{ include('quality_ratios') }},
    partition_key as source_partition,
    cast('raw.mes_production,raw.mes_first_article_inspections,raw.mes_equipment_checks,'
        || 'raw.mes_changeovers,raw.hr_employees,raw.hr_teams' as text) as source_tables
from quantities
