-- One row per team, local date and process parameter: the readings' mean, sample standard
-- deviation and coefficient of variation (weld strength), and over-limit readings per
-- measured hour and as a share of readings (VOC). The standard deviation comes from the
-- count, sum and sum of squares, since SQLite has no stddev aggregate.
with readings as (

    select * from {{ ref('stg_mes__process_measurements') }}
    where day_start >= :window_start and day_start < :window_end

),

quantities as (

    select
        team_id,
        local_date,
        day_start,
        parameter,
        count(*) as reading_count,
        sum(value) as value_sum,
        sum(value * value) as value_sum_squares,
        sum(has_upper_limit) as limited_reading_count,
        sum(is_over_limit) as over_limit_count,
        count(distinct case when has_upper_limit = 1 then partition_key end)
            as limited_hour_count
    from readings
    group by team_id, local_date, day_start, parameter

),

moments as (

    select
        quantities.*,
        cast(value_sum as double precision) / reading_count as value_mean,
        case
            when reading_count >= 2 then (
                cast(value_sum_squares as double precision)
                - cast(value_sum as double precision) * value_sum / reading_count
            ) / (reading_count - 1)
        end as value_variance
    from quantities

),

spread as (

    select
        moments.*,
        -- rounding can leave a tiny negative variance for identical readings
        sqrt(case when value_variance < 0 then 0 else value_variance end) as value_stddev
    from moments

)

select
    spread.team_id,
    teams.line_id,
    teams.line_type,
    spread.local_date,
    spread.day_start,
    spread.parameter,
    spread.reading_count,
    spread.value_sum,
    spread.value_sum_squares,
    spread.value_mean,
    spread.value_stddev,
    spread.value_stddev / nullif(spread.value_mean, 0) as value_cv,
    spread.limited_reading_count,
    spread.limited_hour_count,
    spread.over_limit_count,
    case when spread.limited_reading_count > 0 then
        cast(spread.over_limit_count as double precision) / spread.limited_hour_count
    end as over_limit_per_hour,
    case when spread.limited_reading_count > 0 then
        cast(spread.over_limit_count as double precision) / spread.limited_reading_count
    end as over_limit_share,
    nullif(substring(
        case when spread.reading_count < 2 then '; fewer than two readings' else '' end
        || case when spread.value_mean = 0 then '; mean is zero' else '' end
        || case when spread.limited_reading_count = 0 then '; no upper limit' else '' end
        from 3), '') as null_reason
from spread
left join {{ ref('stg_hr__teams') }} as teams on teams.team_id = spread.team_id
