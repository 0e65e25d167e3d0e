-- Least privilege for the PostgreSQL warehouse. Idempotent: apply it again after an
-- upgrade (new raw tables) or to repair drifted grants.
--
--   perfflow roles apply --warehouse postgresql://postgres@host:5432/warehouse
--   psql -v pipeline_role=perfflow_pipeline -v hr_role=perfflow_hr \
--        -v auditor_role=perfflow_auditor -f perf_orchestration/deploy/roles.sql "$WAREHOUSE_URL"
--
-- Three group roles (NOLOGIN); people and services log in as their own roles and are
-- made members (see docs/deploy.md):
--   pipeline  owns the schemas raw, staging, marts, ops and every table in them: it
--             lands, transforms, records episodes and actions.
--   hr        reads marts only: the numbers, not raw or staging personal data
--             (names and e-mail addresses of the HR roster live in raw and staging).
--   auditor   reads ops (episodes, transitions, action log, tasks, ingestion log,
--             quarantine without its payload), marts, and the provenance columns of
--             every raw table (source_system, source_record_id, ingestion_run_id,
--             ingested_at, partition_key), to trace a number back to its source
--             records and the run that wrote them, without seeing personal data.
-- Tables created later by the pipeline role (SQL models re-create theirs on every
-- full run) are covered by default privileges.

\if :{?pipeline_role} \else \set pipeline_role perfflow_pipeline \endif
\if :{?hr_role} \else \set hr_role perfflow_hr \endif
\if :{?auditor_role} \else \set auditor_role perfflow_auditor \endif
-- The provenance columns come from the table registry (perf_orchestration/tables/raw.py);
-- `perfflow roles apply` passes them. With psql, pass -v provenance=... to change them.
\if :{?provenance} \else \set provenance source_system,source_record_id,ingestion_run_id,ingested_at,partition_key \endif
select set_config('perfflow.pipeline_role', :'pipeline_role', false),
       set_config('perfflow.hr_role', :'hr_role', false),
       set_config('perfflow.auditor_role', :'auditor_role', false),
       set_config('perfflow.provenance', :'provenance', false);

DO $$
DECLARE
  pipeline text := current_setting('perfflow.pipeline_role');
  hr text := current_setting('perfflow.hr_role');
  auditor text := current_setting('perfflow.auditor_role');
  r text;
  s text;
  rel record;
  provenance text[] := string_to_array(current_setting('perfflow.provenance'), ',');
BEGIN
  -- the roles
  FOREACH r IN ARRAY ARRAY[pipeline, hr, auditor] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I, %I',
                 current_database(), pipeline, hr, auditor);

  -- the pipeline owns the four schemas and everything in them
  FOREACH s IN ARRAY ARRAY['raw', 'staging', 'marts', 'ops'] LOOP
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s, pipeline);
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, pipeline);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
    FOR rel IN
      SELECT c.relname, c.relkind FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = s AND c.relkind IN ('r', 'p', 'v', 'm')
    LOOP
      EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                     CASE rel.relkind WHEN 'v' THEN 'VIEW'
                                      WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                     s, rel.relname, pipeline);
    END LOOP;
  END LOOP;

  -- hr: marts only
  EXECUTE format('GRANT USAGE ON SCHEMA marts TO %I', hr);
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA marts TO %I', hr);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA marts '
                 'GRANT SELECT ON TABLES TO %I', pipeline, hr);

  -- auditor: ops and marts, and the provenance columns of raw
  EXECUTE format('GRANT USAGE ON SCHEMA ops, marts, raw TO %I', auditor);
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA ops, marts TO %I', auditor);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA ops, marts '
                 'GRANT SELECT ON TABLES TO %I', pipeline, auditor);
  -- a quarantined row's payload is the source record as fetched (for the HR roster:
  -- names and e-mail addresses); auditors see why it was rejected, not its content
  IF to_regclass('ops.quarantine') IS NOT NULL THEN
    EXECUTE format('REVOKE SELECT ON ops.quarantine FROM %I', auditor);
    EXECUTE format('GRANT SELECT (quarantine_id, entity, partition_key, source_record_id, '
                   'failed_expectation, reason, run_id, quarantined_at) ON ops.quarantine '
                   'TO %I', auditor);
  END IF;
  FOR rel IN
    SELECT c.table_name, array_agg(quote_ident(c.column_name::text)) AS cols
    FROM information_schema.columns c
    WHERE c.table_schema = 'raw' AND c.column_name = ANY (provenance)
    GROUP BY c.table_name
  LOOP
    EXECUTE format('GRANT SELECT (%s) ON raw.%I TO %I',
                   array_to_string(rel.cols, ', '), rel.table_name, auditor);
  END LOOP;
END
$$;
