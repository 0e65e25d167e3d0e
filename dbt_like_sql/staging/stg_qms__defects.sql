-- Defects found by quality control, with the local date and shift of their hour.
with source as (

    select * from {{ source('qms', 'defects') }}
    where detected_at >= :window_start and detected_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.defect_id,
        source.station_id,
        source.team_id,
        source.detected_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.defect_code,
        source.quantity,
        source.severity,
        source.disposition,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
