-- First-article inspections, pass as 1/0, with the local date and shift of their hour.
with source as (

    select * from {{ source('mes', 'first_article_inspections') }}
    where inspected_at >= :window_start and inspected_at < :window_end

),

calendar as (

    select * from {{ source('plant', 'calendar') }}

),

renamed as (

    select
        source.inspection_id,
        source.station_id,
        source.team_id,
        source.inspected_at,
        source.partition_key,
        calendar.local_date,
        calendar.local_hour,
        calendar.shift,
        calendar.shift_date,
        calendar.day_start,
        source.product,
        source.result,
        case when source.result = 'pass' then 1 else 0 end as is_pass,
        source.defect_code,
        source.inspector_id,
        source.updated_at
    from source
    left join calendar on calendar.partition_key = source.partition_key

)

select * from renamed
