"""From the engine's square output to the picture the call sees."""
