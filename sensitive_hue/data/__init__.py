"""Data pipeline, one module per job: raw readers and the demo generator (`sources`), checks and
normalisation (`preprocess`), the processed layout and entity selection (`store`), and lazy training
windows (`windows`, the only one that imports torch)."""
