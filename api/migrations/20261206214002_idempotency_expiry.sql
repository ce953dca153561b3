-- Idempotency keys expire and are bounded per actor (crm-api's idempotency.rs): the
-- sweeper deletes keys by age; claiming a key evicts its actor's oldest beyond the
-- cap. Keys stay scoped to the token that sent them (`scope`); `actor` names whose
-- token it is (a manager id or `role:<role>`; '' for keys stored before).
ALTER TABLE api.idempotency_keys ADD COLUMN actor text NOT NULL DEFAULT '';
CREATE INDEX idempotency_keys_by_age ON api.idempotency_keys (created_at);
CREATE INDEX idempotency_keys_by_actor_age
    ON api.idempotency_keys (actor, created_at, scope, key);
