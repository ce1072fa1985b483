"""The test suite of sklearn_coinem."""
