"""Synthetic generators: each writes a real file layout (NIfTI, DICOM, NRRD/HDF5, PNG + CSV) that the
matching loader in :mod:`paperkit.data.datasets` reads back, so the offline default runs the real loading path."""
