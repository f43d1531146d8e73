"""Input data: readers of pair and label files, the judgment file, and the audit inputs built from them."""
