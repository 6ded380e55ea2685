"""The hub's consumers: each a pure rule plus its declaration for the shared edge."""
