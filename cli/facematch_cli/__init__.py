"""The ``facematch`` command-line client: enroll photos, match a photo, check the API's health.

It talks to a FaceMatch API over HTTP: the local stack by default, any deployment with ``--url``.
Exit codes: 0 success; 1 a photo failed, no match, or an API error; 2 usage error;
3 the API cannot be reached.
"""

__version__ = "0.1.0"
