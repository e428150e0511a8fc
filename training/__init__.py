"""Training side of s2o: the S2O-NPDE model (``training.nets``), its losses, the CycleGAN
framework that trains it, the training loop (``training/train.py``) and the evaluation
(``training/evaluate.py``). Needs torch; the QGIS plugin never imports this package."""
