-- The same roles as infra/local/services.sh creates: an owner for migrations (and, in tests, for
-- creating one database per test) and the application role the API and the worker use.
CREATE ROLE passerelle_owner LOGIN CREATEDB PASSWORD 'passerelle';
CREATE ROLE passerelle_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'passerelle';
CREATE DATABASE passerelle OWNER passerelle_owner;
