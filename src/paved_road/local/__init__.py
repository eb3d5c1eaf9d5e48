"""Running a generated service on this machine: `paved dev` (and, with it, the pinned Node toolchain,
the Dockerfile's runtime stage and the local OTLP receiver)."""
