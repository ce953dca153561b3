-- The values clients may share (`GET /clients/duplicates`), kept by the `clients`
-- projection: each client's normalised keys (a contact's phone, digits only, the last
-- 10; a contact's email lowercased; its name lowercased, spaces folded), none for an
-- erased or merged client, with its manager; and how many clients hold each value, so the query reads
-- only the values held by two or more. Filled by the projection's replay (its version
-- moved).
CREATE TABLE projections.client_keys (
    match      text NOT NULL,
    value      text NOT NULL,
    client_id  uuid NOT NULL,
    -- The client's responsible manager (a reach filters by it).
    manager_id uuid NOT NULL,
    PRIMARY KEY (match, value, client_id) INCLUDE (manager_id)
);
CREATE INDEX client_keys_client_idx ON projections.client_keys (client_id);
CREATE TABLE projections.client_key_counts (
    match   text    NOT NULL,
    value   text    NOT NULL,
    clients integer NOT NULL,
    PRIMARY KEY (match, value)
);
CREATE INDEX client_key_counts_shared_idx ON projections.client_key_counts (match, value)
    WHERE clients > 1;
