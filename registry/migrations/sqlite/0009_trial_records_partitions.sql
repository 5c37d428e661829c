-- PostgreSQL partitions trial_records by day in its migration 0009; SQLite
-- (embedded, single process) keeps one table and deletes old records row
-- by row. This migration keeps both directories numbered alike.
SELECT 1;
