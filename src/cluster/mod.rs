//! The control plane: which node collects which entities.
