-- Teams from the HR roster snapshot, with a flag for the teams that run a production line.
with source as (

    select * from {{ source('hr', 'teams') }}

),

renamed as (

    select
        team_id,
        name as team_name,
        line_id,
        line_type,
        workshop,
        case
            when line_type in ('welding', 'painting', 'assembly', 'machining') then 1
            else 0
        end as is_production_team,
        updated_at
    from source

)

select * from renamed
