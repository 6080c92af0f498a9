"""GraphQL for order-scoped messaging: ``conversation``, its mutations and the live feed."""
