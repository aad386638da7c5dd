"""Digests: a typed context built from the store, rendered by Jinja templates."""
