"""Runnable chapters, one per section of the article "GAE from theory to practice" (see chapters/README.md)."""
