"""GraphQL for platform incidents, their post-incident reviews and the monthly case report."""
