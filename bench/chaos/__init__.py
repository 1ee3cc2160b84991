"""The chaos run: the gateway under load and a schedule of faults, and its invariants."""
