"""Variant manifests (firmware_variants/*/variant.toml): identity, emulation, source, timing."""
