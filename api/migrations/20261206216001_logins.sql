-- Logins (issue 16): passwords and sessions, in the API's own schema, never in the log.

-- One password per manager with an email: the Argon2id hash in PHC form (salt and
-- parameters included), the email it logs in with (copied from the log when set).
CREATE TABLE api.passwords (
    manager_id    uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT now(),
    set_by        text NOT NULL
);
CREATE UNIQUE INDEX passwords_email ON api.passwords (lower(email));

-- Live sessions, by the SHA-256 of the cookie's value (a leak of this table gives no
-- live session); a session unused for the idle timeout is over.
CREATE TABLE api.sessions (
    session_hash bytea PRIMARY KEY,
    manager_id   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_manager ON api.sessions (manager_id);
CREATE INDEX sessions_last_seen ON api.sessions (last_seen_at);
