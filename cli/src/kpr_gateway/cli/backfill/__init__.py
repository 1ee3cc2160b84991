"""``kprgw backfill``: stream a large NDJSON file of notifications to the batch API, for the
initial load and for backfilling history, resumable and throttled by KPR messages per minute."""
