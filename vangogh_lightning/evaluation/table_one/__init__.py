"""Table 1, the deception rate (``task=deception``): its inputs, the judges' runs, its statistics, and
the table with its files."""
