-- One row per sales owner, channel and local date: opportunity stage advances and how many
-- followed the sales process's follow-up time (the next stage reached within 120 minutes
-- of the previous one). The previous stage is looked up over the whole history, so an
-- advance the day after its previous stage still counts.
with changes as (

    select * from {{ ref('stg_crm__opportunities') }}

),

people as (

    select employee_id, team_id from {{ ref('stg_hr__employees') }}

),

steps as (

    select
        change_id,
        opportunity_id,
        owner_id,
        channel,
        stage,
        local_date,
        day_start,
        changed_at,
        lag(changed_at) over (
            partition by opportunity_id order by changed_at, stage_order
        ) as previous_changed_at
    from changes

),

advances as (

    select
        steps.*,
        extract(epoch from (changed_at - previous_changed_at)) / 60.0 as minutes_from_previous
    from steps
    where previous_changed_at is not null
        and day_start >= :window_start and day_start < :window_end

)

select
    advances.owner_id,
    people.team_id,
    advances.channel,
    advances.local_date,
    min(advances.day_start) as day_start,
    count(*) as advances,
    sum(case when advances.minutes_from_previous <= 120 then 1 else 0 end) as on_time_advances,
    cast(sum(case when advances.minutes_from_previous <= 120 then 1 else 0 end)
        as double precision) / count(*) as follow_up_compliance,
    cast(null as text) as null_reason
from advances
left join people on people.employee_id = advances.owner_id
group by advances.owner_id, people.team_id, advances.channel, advances.local_date
