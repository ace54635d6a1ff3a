"""`xraymass predict`: masses from a Chandra level-2 event file with a trained run (docs/predict.md)."""
