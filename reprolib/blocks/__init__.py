"""Shared building blocks (DESIGN §5): imported by methods, never copied."""
