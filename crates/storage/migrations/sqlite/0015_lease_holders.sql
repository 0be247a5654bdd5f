-- Leases follow the work: a worker renews the leases of the rows it is working on every few
-- seconds (by owner), so a short lease is enough and a killed worker's rows are taken over soon.
-- These indexes find a holder's rows without reading every contact or removal.
CREATE INDEX it_contacts_lease_owner ON it_contacts (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX identity_removals_lease_owner ON identity_removals (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX metadata_sources_lease_owner ON metadata_sources (lease_owner) WHERE lease_owner IS NOT NULL;
