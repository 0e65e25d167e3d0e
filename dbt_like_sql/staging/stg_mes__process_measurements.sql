-- Process readings: weld strength on welding lines, VOC against its limit on painting lines.
with source as (

    select * from {{ source('mes', 'process_measurements') }}
    where measured_at >= :window_start and measured_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.measurement_id,
        source.station_id,
        source.team_id,
        source.measured_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.parameter,
        source.value,
        source.upper_limit,
        case when source.upper_limit is not null then 1 else 0 end as has_upper_limit,
        case
            when source.upper_limit is not null and source.value > source.upper_limit then 1
            else 0
        end as is_over_limit,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
