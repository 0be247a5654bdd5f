-- The member picker's name-ordered walk reads search_text from the index itself (no table
-- look-up per member), which keeps a broad search quick even when its matches sort late.
-- It replaces memberships_by_name, of which it is an extension.
CREATE INDEX memberships_search_walk ON memberships (org_id, sort_name, user_id, search_text);
DROP INDEX memberships_by_name;
