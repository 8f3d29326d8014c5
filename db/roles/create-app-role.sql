-- Creates the login role the service runs as (least privilege). Run once per cluster, as a role
-- allowed to create roles:
--
--   psql "$OWNER_DATABASE_URL" -v app_role=outbox_app -v app_password="$APP_PASSWORD" \
--        -f db/roles/create-app-role.sql -f db/roles/grant-app-role.sql
--
-- The role owns nothing and may not create anything, so it cannot alter, disable or drop the
-- capture triggers, the trigger function or the outbox; only the schema owner can.
create role :"app_role" login password :'app_password'
  nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls;
