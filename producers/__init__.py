"""streamjury."""
