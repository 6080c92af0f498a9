"""GraphQL: orders."""
