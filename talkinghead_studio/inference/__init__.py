"""ONNX sessions, providers and the generator contract. No Qt, no torch."""
