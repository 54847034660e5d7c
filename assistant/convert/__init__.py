"""Model conversions for other runtimes: ONNX GenAI (onnxruntime-genai) and Core ML."""
