"""Honest numbers: COCO box metrics equal to pycocotools, classification accuracy / per-class / confusion, and
the plots that go into every run directory."""
