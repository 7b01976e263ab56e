"""The driving face: landmarks, smoothing, alignment to the model's crop, avatar framing."""
