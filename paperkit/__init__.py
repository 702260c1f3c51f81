"""paperkit."""
