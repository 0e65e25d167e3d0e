-- Output per station and hour, with the local date and shift of its hour.
with source as (

    select * from {{ source('mes', 'production') }}
    where hour_start >= :window_start and hour_start < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.production_id,
        source.station_id,
        source.team_id,
        source.hour_start,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.planned_minutes,
        source.run_minutes,
        source.planned_minutes - source.run_minutes as downtime_minutes,
        source.total_count,
        source.good_count,
        source.rework_count,
        source.scrap_count,
        source.ideal_cycle_seconds,
        source.total_count * source.ideal_cycle_seconds / 60.0 as ideal_minutes,
        source.good_count * source.ideal_cycle_seconds / 60.0 as good_ideal_minutes,
        source.updated_at,
        source.ingestion_run_id
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
