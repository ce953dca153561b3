-- Connections named `crm-no-append:…` (crm_eventlog::non_appending: a read model's
-- rebuild) promise never to append: the feed does not wait for their transactions
-- (feed.rs, FEED_BOUND). Hold them to it. The WHEN is evaluated without calling the
-- function, so other appends pay next to nothing.
CREATE FUNCTION eventlog.refuse_non_appending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a connection named % may not append to the event log',
        current_setting('application_name')
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_not_from_non_appending
    BEFORE INSERT ON eventlog.events
    FOR EACH STATEMENT
    WHEN (current_setting('application_name') LIKE 'crm-no-append%')
    EXECUTE FUNCTION eventlog.refuse_non_appending();
ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_not_from_non_appending;
