"""envelope: signs and encrypts KPR messages (CMS) with the tenant's enterprise certificates."""
