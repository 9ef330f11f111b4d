-- The attempt ledger's rows move to retry_worker_attempts, the service's own table, and failed_record_attempts
-- becomes a view of it with the same columns. The worker no longer writes the outcome of an attempt that
-- succeeded and was committed with its record in the same claim transaction (the record's own row says so,
-- as durably); the view shows it: outcome 'succeeded' and the record's finished_at for the attempt that made
-- a succeeded record succeed. Every other outcome (failed, dead, skipped, and a success written before its
-- batch committed) is stored as before. outcome NULL in the view: running, or its executor died; or, once
-- the record itself has been deleted, a success that was committed with it.
ALTER TABLE failed_record_attempts RENAME TO retry_worker_attempts;
ALTER INDEX failed_record_attempts_pkey RENAME TO retry_worker_attempts_pkey;
ALTER INDEX failed_record_attempts_record_idx RENAME TO retry_worker_attempts_record_idx;
ALTER SEQUENCE failed_record_attempts_id_seq RENAME TO retry_worker_attempts_id_seq;

-- Scalar subqueries rather than a join, so that the view stays automatically insertable (record_id,
-- attempt, epoch and replica_id are plain columns of the table).
CREATE VIEW failed_record_attempts AS
  SELECT a.id, a.record_id, a.attempt, a.epoch, a.replica_id, a.started_at,
         coalesce(a.finished_at, CASE WHEN a.outcome IS NULL THEN (
           SELECT f.finished_at FROM failed_records f WHERE f.id = a.record_id AND f.status = 'succeeded' AND f.attempts = a.attempt) END) AS finished_at,
         coalesce(a.outcome, (
           SELECT 'succeeded'::text FROM failed_records f WHERE f.id = a.record_id AND f.status = 'succeeded' AND f.attempts = a.attempt)) AS outcome,
         a.error
  FROM retry_worker_attempts a;

-- Replicas of the previous release, still running during a rolling upgrade, write outcomes through the view.
-- Nothing else of an attempt can be changed through it.
CREATE FUNCTION retry_worker_attempts_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.record_id, NEW.attempt, NEW.epoch, NEW.replica_id, NEW.started_at)
     IS DISTINCT FROM (OLD.id, OLD.record_id, OLD.attempt, OLD.epoch, OLD.replica_id, OLD.started_at) THEN
    RAISE EXCEPTION 'only outcome, error and finished_at of an attempt can be written through failed_record_attempts';
  END IF;
  UPDATE retry_worker_attempts SET outcome = NEW.outcome, error = NEW.error, finished_at = NEW.finished_at WHERE id = OLD.id;
  RETURN NEW;
END
$$;

CREATE TRIGGER failed_record_attempts_outcome
  INSTEAD OF UPDATE ON failed_record_attempts
  FOR EACH ROW EXECUTE FUNCTION retry_worker_attempts_outcome();
