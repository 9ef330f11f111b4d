-- Demo failed rows for docker-compose's seeder (run once by psql after migrate). They call the sink service;
-- per 20 rows: 10 succeed at once, 4 on attempt 2, 2 on attempt 3, 3 always fail (dead after 3 attempts),
-- 1 is refused with 422 (dead at once).
INSERT INTO failed_records (kind, payload, max_attempts)
SELECT 'http',
       jsonb_build_object(
         'url', 'http://sink:8080/exec',
         'method', 'POST',
         'body', CASE
                   WHEN i % 20 < 10 THEN jsonb_build_object('mode', 'ok', 'delayMs', 50)
                   WHEN i % 20 < 14 THEN jsonb_build_object('mode', 'fail-until', 'succeedOnAttempt', 2, 'delayMs', 50)
                   WHEN i % 20 < 16 THEN jsonb_build_object('mode', 'fail-until', 'succeedOnAttempt', 3, 'delayMs', 50)
                   WHEN i % 20 < 19 THEN jsonb_build_object('mode', 'always-fail', 'delayMs', 50)
                   ELSE jsonb_build_object('mode', 'permanent', 'delayMs', 50)
                 END),
       CASE WHEN i % 20 BETWEEN 16 AND 18 THEN 3 END
FROM generate_series(0, 199) AS i;
