"""GraphQL of diagnostics bundles attached to cases: ``caseAttachBundle`` and ``caseBundles``."""
