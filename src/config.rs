//! Configuration: one TOML file shared by every node, validated before anything runs.
