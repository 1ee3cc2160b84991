"""dispatch: sends sealed KPR messages to NHN's Tjenestebuss with the NHN wire profile."""
