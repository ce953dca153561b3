-- The results of verifying the log (issue 16): each run of the chain and seal walk,
-- kept so that a page shows the latest without walking a million events per view.
-- Written by the background verifier, an auditor's "verify now" and GET /audit/verify.
CREATE TABLE eventlog.verifications (
    id               bigserial PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    -- What started it: start, periodic, on_demand, api.
    trigger          text NOT NULL,
    -- The last position the walk covered (NULL: an empty log).
    through_position bigint,
    intact           boolean NOT NULL,
    -- The VerifyReport as JSON.
    report           jsonb NOT NULL
);
