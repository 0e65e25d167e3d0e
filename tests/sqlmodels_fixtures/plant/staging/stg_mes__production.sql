with source as (

    select * from {{ source('mes', 'production') }}

),

renamed as (

    select
        record_id,
        team_id,
        produced_at,
        cast(units as integer) as units,
        coalesce(good_units, 0) as good_units,
        lower(status) as status
    from source

)

select * from renamed
