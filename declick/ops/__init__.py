"""Operators' commands on a deployed pipeline: `declick status` and `declick replay` (job ledger)."""
