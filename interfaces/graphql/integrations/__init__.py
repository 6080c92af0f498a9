"""GraphQL for the integration hub: the dead-letter queue and provider status (L3, AUDITOR)."""
