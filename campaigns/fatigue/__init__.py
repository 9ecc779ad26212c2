"""The global fatigue budget's domain: policy versions, the touch ledger, the rules."""
