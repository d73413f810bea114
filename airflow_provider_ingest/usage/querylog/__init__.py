"""Query-log sources: PostgreSQL's ``pg_stat_statements``, MariaDB/MySQL statement digests, and query-log files."""
