-- Run once, when the stack's PostgreSQL starts with an empty data directory.
-- Grafana reads umbra's divergence store (DESIGN §11) as a read-only role; umbra
-- itself connects as the owner, umbra, and creates its tables at start.
CREATE ROLE grafana LOGIN PASSWORD 'grafana';
GRANT CONNECT ON DATABASE umbra TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE umbra IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
