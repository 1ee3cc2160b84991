"""intake: the HTTP API where EPJ systems submit KPR KTT events and read their status."""
