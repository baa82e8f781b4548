"""FBNet-PFLD: latency-aware architecture search for facial landmarks, and the landmark models it finds.

    from fbnet_pfld import Landmarker
    faces = Landmarker("released/subnet.onnx")("photo.jpg")
    for face in faces:
        print(face.box, face.score, face.landmarks.shape)   # [K, 2] points in image pixels
"""

__version__ = "1.0.0"
__all__ = ["Face", "Landmarker", "__version__"]


def __getattr__(name):
    """The API is imported on first use, so ``import fbnet_pfld.blocks`` stays light."""
    if name in ("Face", "Landmarker"):
        from fbnet_pfld import landmarker

        return getattr(landmarker, name)
    raise AttributeError(f"module 'fbnet_pfld' has no attribute {name!r}")
