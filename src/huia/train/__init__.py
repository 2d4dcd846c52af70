"""Training utilities shared by the detector and classifier trainers (huia.detect, huia.classify)."""
