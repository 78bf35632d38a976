"""Files: images (with 16-bit PNG and TIFF codecs) and atomic writes."""
