"""Sentence encoders: the ONNX export that serves (`onnx`), sentence-transformers for builds
(`sbert`), and the batching that shares encoder runs between concurrent questions."""
