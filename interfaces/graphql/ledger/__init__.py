"""GraphQL: ledger."""
