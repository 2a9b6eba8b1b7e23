-- A booking outside the modules the holder chose, marked « hors parcours » by the animator when
-- booking; the attendance recorded on that session carries the mark on to finance.
ALTER TABLE session_enrolments ADD COLUMN off_path boolean NOT NULL DEFAULT false;
