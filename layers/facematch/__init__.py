"""FaceMatch: per-organization face enrollment and matching on AWS Lambda."""

__version__ = "0.1.0"
