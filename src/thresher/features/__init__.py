"""Features: records -> numbers (hashed n-grams for DSIR, embeddings, model signals).

Modules here import their heavy libraries (numba, torch) inside functions, so importing
`thresher.features` stays cheap.
"""
