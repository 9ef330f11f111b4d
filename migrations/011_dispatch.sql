-- Scenario 2 (EXECUTION_MODE=dispatch): the leader publishes due records to RabbitMQ, and any replica executes
-- them. A published record is marked, in the same transaction that chose it, so that the leader does not
-- publish it again while its message is in flight:
--   dispatched_at  when its latest message was published (NULL: no message in flight);
--   dispatch_token that message's token; a consumer executes a message only while the row still carries its
--                  token, so an older message for the same record (a duplicate, or one published before a
--                  republication) is dropped.
-- The leader publishes a record again when its mark is older than DISPATCH_REDELIVER_AFTER_MS and its row is
-- not locked by an execution (the message was lost). Every completion clears both columns. Leader mode leaves
-- them NULL.
ALTER TABLE failed_records ADD COLUMN dispatched_at timestamptz, ADD COLUMN dispatch_token uuid;

-- The leader counts the messages in flight, per kind, before each dispatch.
CREATE INDEX failed_records_dispatched_idx ON failed_records (kind, dispatched_at)
  WHERE status = 'pending' AND dispatch_token IS NOT NULL;

-- Each replica's heartbeat says which EXECUTION_MODE it runs in (`status` shows it).
ALTER TABLE retry_worker_replicas ADD COLUMN mode text NOT NULL DEFAULT 'leader' CHECK (mode IN ('leader', 'dispatch'));
