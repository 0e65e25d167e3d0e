-- One row per local date and funnel stage: opportunities reaching the stage that day and
-- the conversion from the previous stage (reached this stage / reached the previous stage
-- the same day, a flow ratio that sums over longer periods).
with days as (

    select distinct local_date, day_start
    from {{ source('plant', 'calendar') }}
    where day_start >= :window_start and day_start < :window_end

),

stages as (

    select 'lead' as stage, 1 as stage_order, cast(null as text) as previous_stage
    union all select 'qualified', 2, 'lead'
    union all select 'proposal', 3, 'qualified'
    union all select 'negotiation', 4, 'proposal'
    union all select 'won', 5, 'negotiation'
    union all select 'lost', 6, cast(null as text)

),

changes as (

    select * from {{ ref('stg_crm__opportunities') }}
    where day_start >= :window_start and day_start < :window_end

),

reached as (

    select
        local_date,
        stage,
        count(distinct opportunity_id) as reached_count,
        sum(amount) as reached_amount
    from changes
    group by local_date, stage

),

funnel as (

    select
        days.local_date,
        days.day_start,
        stages.stage,
        stages.stage_order,
        stages.previous_stage,
        coalesce(this_stage.reached_count, 0) as reached_count,
        coalesce(this_stage.reached_amount, 0) as reached_amount,
        case
            when stages.previous_stage is not null
                then coalesce(previous.reached_count, 0)
        end as previous_stage_reached_count
    from days
    cross join stages
    left join reached as this_stage
        on this_stage.local_date = days.local_date and this_stage.stage = stages.stage
    left join reached as previous
        on previous.local_date = days.local_date and previous.stage = stages.previous_stage

)

select
    local_date,
    day_start,
    stage,
    stage_order,
    previous_stage,
    reached_count,
    reached_amount,
    previous_stage_reached_count,
    cast(reached_count as double precision) / nullif(previous_stage_reached_count, 0)
        as conversion_from_previous,
    case
        when previous_stage is null then 'no previous stage'
        when previous_stage_reached_count = 0 then 'previous stage not reached'
    end as null_reason
from funnel
