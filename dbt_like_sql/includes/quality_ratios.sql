    -- The team-quality ratios, from the quantity columns of the select that includes
    -- this file (docs/metrics.md); written once for the hourly mart and every rollup.
    cast(run_minutes as double precision) / nullif(planned_minutes, 0) as availability,
    cast(ideal_minutes as double precision) / nullif(run_minutes, 0) as performance,
    cast(good_count as double precision) / nullif(total_count, 0) as quality_ratio,
    cast(good_ideal_minutes as double precision) / nullif(planned_minutes, 0) as oee,
    cast(good_count as double precision) / nullif(total_count, 0) as first_pass_yield,
    cast(rework_count as double precision) / nullif(total_count, 0) as rework_ratio,
    cast(scrap_count as double precision) / nullif(total_count, 0) as scrap_ratio,
    cast(downtime_minutes as double precision) / nullif(planned_minutes, 0) as downtime_rate,
    cast(changeover_actual_minutes as double precision) / nullif(run_minutes, 0) as setup_ratio,
    -- nothing planned, nothing to judge: people on shift in a planned stop are not 0 output
    case when planned_minutes > 0
        then cast(good_count as double precision) / nullif(person_hours_on_shift, 0)
    end as output_per_head,
    cast(fai_passed as double precision) / nullif(fai_total, 0) as first_article_pass_rate,
    cast(checks_completed as double precision) / nullif(checks_due, 0)
        as equipment_check_completion,
    cast(changeover_excess_minutes as double precision)
        / nullif(changeover_standard_minutes, 0) as changeover_deviation,
    nullif(substring(
        case when planned_minutes = 0 then '; no planned production time' else '' end
        || case when run_minutes = 0 then '; no run time' else '' end
        || case when total_count = 0 then '; no output' else '' end
        || case when person_hours_on_shift = 0 then '; no one on shift' else '' end
        || case when fai_total = 0 then '; no inspections' else '' end
        || case when checks_due = 0 then '; no checks due' else '' end
        || case
            when changeover_count = 0 then '; no changeovers'
            when changeover_standard_minutes = 0 then '; no changeover standard time'
            else ''
        end
        from 3), '') as null_reason
