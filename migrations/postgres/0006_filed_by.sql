-- Who filed a request when it was not the vendor (staff on the vendor's behalf, e.g. after a
-- phone call). That person is a party to the request and may not approve it. NULL: the
-- vendor filed it. Same column in the other back end's folder.
ALTER TABLE access_requests ADD COLUMN filed_by TEXT;
