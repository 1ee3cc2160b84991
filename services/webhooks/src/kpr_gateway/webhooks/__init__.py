"""webhooks: tells each EPJ client, by a signed HTTP POST, what KPR answered for its events."""
