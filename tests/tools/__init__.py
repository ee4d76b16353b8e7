"""Third-party tools only the tests use, pinned and fetched into the user's cache on first use."""
