"""Publishing records to OpenMetadata over its REST API: hook, client, mapping, sink and bulk sink."""
