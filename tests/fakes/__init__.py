"""Local stand-ins for outside services, reached over real HTTP on 127.0.0.1."""
