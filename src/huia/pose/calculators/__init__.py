"""Shared decoding steps (image cropping/resizing with TF semantics, filters, crop-region tracking)."""
