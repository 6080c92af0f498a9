"""GraphQL: disputes."""
