with production as (

    select * from {{ ref('stg_mes__production') }}
    where produced_at >= :window_start and produced_at < :window_end

),

teams as (

    select * from {{ ref( "stg_hr__teams" ) }}

),

hourly as (

    select
        team_id,
        date_trunc('hour', produced_at) as hour_start,
        count(*) as records,
        sum(units) as units,
        sum(good_units) as good_units,
        sum(case when status = 'reworked' then units else 0 end) as reworked_units
    from production
    group by team_id, date_trunc('hour', produced_at)

)

select
    h.team_id,
    t.team_name,
    h.hour_start,
    h.records,
    h.units,
    h.good_units,
    cast(h.good_units as numeric) / nullif(h.units, 0) as first_pass_yield,
    cast(h.reworked_units as numeric) / nullif(h.units, 0) as rework_rate,
    cast(h.units as numeric) / nullif(t.headcount, 0) as output_per_head,
    coalesce(t.headcount, 0) as headcount,
    case
        when h.units = 0 then 'idle'
        when cast(h.good_units as numeric) / h.units < 0.925 then 'red'
        else 'green'
    end as health,
    sum(h.units) over (
        partition by h.team_id order by h.hour_start
        rows between unbounded preceding and current row
    ) as units_in_window
from hourly as h
left join teams as t on t.team_id = h.team_id
