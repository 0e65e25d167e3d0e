-- Equipment state changes, failures and repairs, with the local date of their hour.
with source as (

    select * from {{ source('mes', 'equipment_events') }}
    where occurred_at >= :window_start and occurred_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.event_id,
        source.device_id,
        source.device_type,
        source.station_id,
        source.team_id,
        source.occurred_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.event_type,
        source.state,
        source.failure_code,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
