with source as (
    select * from {{source("hr","teams")}}
),

renamed as (
    select team_id, team_name, headcount from source
)

select * from renamed
