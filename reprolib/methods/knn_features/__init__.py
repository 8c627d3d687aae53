"""kNN on globally pooled ImageNet features: a feature-level reference floor (issue 15)."""
