-- Product changeovers, counted in the hour they start.
with source as (

    select * from {{ source('mes', 'changeovers') }}
    where started_at >= :window_start and started_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.changeover_id,
        source.station_id,
        source.team_id,
        source.started_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.from_product,
        source.to_product,
        source.standard_minutes,
        source.actual_minutes,
        source.actual_minutes - source.standard_minutes as excess_minutes,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
