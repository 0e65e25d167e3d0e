-- A view in the same schema as its input, so SQLite can keep it a view.
select
    team_id,
    count(*) as hours,
    sum(units) as units,
    cast(sum(good_units) as numeric) / nullif(sum(units), 0) as first_pass_yield,
    sum(case when health = 'red' then 1 else 0 end) as red_hours
from {{ ref('team_hourly_quality') }}
group by team_id;
