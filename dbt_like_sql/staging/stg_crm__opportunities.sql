-- Opportunity stage changes, one row per stage reached, with the stage's funnel position.
with source as (

    select * from {{ source('crm', 'opportunities') }}
    where changed_at >= :window_start and changed_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.change_id,
        source.opportunity_id,
        source.account_id,
        source.owner_id,
        source.stage,
        case source.stage
            when 'lead' then 1
            when 'qualified' then 2
            when 'proposal' then 3
            when 'negotiation' then 4
            when 'won' then 5
            when 'lost' then 6
        end as stage_order,
        source.amount,
        source.channel,
        source.changed_at,
        source.partition_key,
        calendar.local_date,
        calendar.day_start,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
