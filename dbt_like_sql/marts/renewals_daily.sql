-- One row per local date: CRM renewals closed, won and lost, with their amounts.
with days as (

    select distinct local_date, day_start
    from {{ source('plant', 'calendar') }}
    where day_start >= :window_start and day_start < :window_end

),

renewals as (

    select * from {{ ref('stg_crm__renewals') }}
    where day_start >= :window_start and day_start < :window_end

),

daily as (

    select
        local_date,
        count(*) as renewal_count,
        sum(case when status = 'won' then 1 else 0 end) as won_count,
        sum(case when status = 'lost' then 1 else 0 end) as lost_count,
        sum(amount) as renewal_amount,
        sum(case when status = 'won' then amount else 0 end) as won_amount
    from renewals
    group by local_date

)

select
    days.local_date,
    days.day_start,
    coalesce(daily.renewal_count, 0) as renewal_count,
    coalesce(daily.won_count, 0) as won_count,
    coalesce(daily.lost_count, 0) as lost_count,
    coalesce(daily.renewal_amount, 0) as renewal_amount,
    coalesce(daily.won_amount, 0) as won_amount,
    cast(daily.won_count as double precision) / nullif(daily.renewal_count, 0) as win_rate,
    case when daily.renewal_count is null then 'no renewals' end as null_reason
from days
left join daily on daily.local_date = days.local_date
