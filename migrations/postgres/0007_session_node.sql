-- Which broker node runs a session (its `[node] id`), so that a node restarting after a
-- crash closes only the sessions it left open, never those of another node sharing the
-- store. NULL: the session was started before this column existed. Same column in the other
-- back end's folder.
ALTER TABLE sessions ADD COLUMN node TEXT;
