"""Built-in behaviours: their contrast prompts, evaluation items and splits."""
