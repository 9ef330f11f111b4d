-- New records get a time-ordered uid (UUID version 7, RFC 9562: 48 bits of Unix time in ms, then random bits)
-- instead of a random one (version 4). The ledger's unique index on (record_uid, attempt), written for every
-- attempt, and the claim's lookup in it then work near the index's right edge, in about the order records are
-- claimed, instead of on a random page each time. Rows that exist keep their uid; either kind stays unique.
-- Postgres 15 has no built-in for it (Postgres 18's uuidv7() would do): a random uuid with its first 48 bits
-- replaced by the time. Its version nibble, 0100 from gen_random_uuid(), becomes 0111 by setting bits 52 and 53;
-- its variant bits (10) stay right.
CREATE FUNCTION retry_worker_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

ALTER TABLE failed_records ALTER COLUMN uid SET DEFAULT retry_worker_uuid_v7();
