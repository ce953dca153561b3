-- Personal data erasure (issue 6): when a client's personal data was erased
-- (ClientErased); its name and contacts then read '[erased]'.
ALTER TABLE projections.client_cards ADD COLUMN erased_at timestamptz;
