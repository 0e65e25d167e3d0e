-- People from the HR roster snapshot with their team, role and shift.
with source as (

    select * from {{ source('hr', 'employees') }}

),

renamed as (

    select
        employee_id,
        name as employee_name,
        team_id,
        role,
        shift,
        email,
        hired_at,
        updated_at
    from source

)

select * from renamed
