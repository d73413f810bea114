"""Elasticsearch sink and bulk sink: catalog records as searchable documents, one index per entity kind."""
