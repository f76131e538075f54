"""Table 1, the deception rate (``task=deception``): inputs, judges' runs, statistics, files."""
