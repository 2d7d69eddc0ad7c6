"""The engine: images, landmarks, crop, motion, animation, rendering, export. No Qt."""
