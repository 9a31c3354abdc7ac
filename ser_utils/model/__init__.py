"""The model, shared by training and every use of a trained model: building and loading the encoders (Whisper's
classes among them), the model folder and every file in it (`folder.py`), the model card, what a model heard."""
