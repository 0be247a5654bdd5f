-- SQLite: a trigram index over memberships.search_text, so that the member picker finds a
-- rare substring among 100,000 members without scanning them all. It keeps its own copy of the
-- text with the membership's key (no external content: SQLite may renumber implicit rowids).
CREATE VIRTUAL TABLE member_search USING fts5(
    search_text,
    org_id UNINDEXED,
    user_id UNINDEXED,
    tokenize = 'trigram'
);
INSERT INTO member_search (search_text, org_id, user_id) SELECT search_text, org_id, user_id FROM memberships;
CREATE TRIGGER memberships_search_insert AFTER INSERT ON memberships BEGIN
    INSERT INTO member_search (search_text, org_id, user_id) VALUES (new.search_text, new.org_id, new.user_id);
END;
CREATE TRIGGER memberships_search_delete AFTER DELETE ON memberships BEGIN
    DELETE FROM member_search WHERE org_id = old.org_id AND user_id = old.user_id;
END;
CREATE TRIGGER memberships_search_update AFTER UPDATE OF search_text ON memberships BEGIN
    DELETE FROM member_search WHERE org_id = old.org_id AND user_id = old.user_id;
    INSERT INTO member_search (search_text, org_id, user_id) VALUES (new.search_text, new.org_id, new.user_id);
END;
