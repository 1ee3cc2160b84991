"""receipts: opens AppRecs and transport errors from NHN, correlates them in the ledger and
publishes receipt notices."""
