"""phantom layer (see DESIGN.md)."""
