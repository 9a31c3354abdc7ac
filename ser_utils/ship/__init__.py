"""Stage 4, shipping a trained model: ONNX export, classifying recordings (`Predictor`) and the demo page."""
