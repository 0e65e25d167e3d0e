-- Scheduled equipment checks, counted in the hour they fall due.
with source as (

    select * from {{ source('mes', 'equipment_checks') }}
    where due_at >= :window_start and due_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.check_id,
        source.device_id,
        source.team_id,
        source.due_at,
        source.completed_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.status,
        case when source.status = 'completed' then 1 else 0 end as is_completed,
        source.result,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
