"""Tools for testing rules: the conformance runner (`iotsql.testing.conformance`)."""
