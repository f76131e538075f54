"""What the evidence folder holds and how its figures are laid out: shared by the writer
(``evidence.py``, which needs torch) and the study page that reads them (which must not)."""

EVIDENCE_INDEX = "evidence.csv"  # in the evidence folder: image, judge, layer, p_van_gogh, file
PANEL = 224  # px per panel of a figure: image | overlay
CAPTION = 30  # px of caption under the panels
