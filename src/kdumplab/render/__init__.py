"""Formatting: rich text, JSON, SVG/HTML. The only place that turns results into text."""
