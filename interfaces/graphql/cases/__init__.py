"""GraphQL for cases and incidents: the work queue, one case, their mutations and the live queue."""
