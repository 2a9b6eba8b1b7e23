-- A holder chooses modules at registration; attendance at a session of another module is refused
-- unless the animator records it as « hors parcours », which stays on the line for finance to see.
ALTER TABLE attendances ADD COLUMN off_path boolean NOT NULL DEFAULT false;
