-- A manager's day (`GET /managers/{id}/day`) reads his own rows, not everyone's:
-- his waiting leads (the prospects) in their order, with the name it shows; and his
-- clients (those with open deals are looked up from them). Without these it scanned
-- every waiting lead and every client card of the company.
CREATE INDEX leads_waiting_manager_idx ON projections.leads (manager_id, received_at, lead_id)
    INCLUDE (name)
    WHERE status IN ('new', 'assigned') AND NOT contacted;
CREATE INDEX client_cards_manager_idx ON projections.client_cards (manager_id);
