"""The ``sql`` source: catalogs of PostgreSQL, MySQL/MariaDB and SQLite databases."""
