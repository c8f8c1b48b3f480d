"""Generators: benchmarks written from scratch or from pristine photos, in the folder layout
that :func:`hyperimage.data.datasets.folder.load` reads (``labels.csv``, ``meta.json``).

- :mod:`.synthetic`: the paper's synthetic task (Eq. 3);
- :mod:`.iqa_photos`: a no-reference IQA benchmark of distorted photos, labelled by
  :mod:`.proxy_labels`;
- :mod:`.tampering`: a forgery benchmark of spliced, copied and inpainted regions.
"""
