"""Fakes at the edges polyad cannot reach here (an NVIDIA GPU), and sample builders."""
