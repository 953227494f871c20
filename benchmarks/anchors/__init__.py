"""Published rate-distortion points of other codecs (reference only, other datasets)."""
