"""Statistics over finished trials (scikit-learn, NumPy): no FastAPI, no database."""
