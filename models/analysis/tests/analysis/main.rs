//! Placeholder until the rendered-set tests land.
