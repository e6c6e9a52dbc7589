"""Input and output files: reading a user's table against a pack (:mod:`.tabular`: types, missing
values, one-line errors naming file, row and column) and writing documents safely
(:mod:`.outputs`: atomic writes, confined names, canonical JSON)."""
