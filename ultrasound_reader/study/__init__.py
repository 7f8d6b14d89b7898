"""study layer (see DESIGN.md)."""
