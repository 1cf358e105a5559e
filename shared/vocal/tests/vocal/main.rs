//! coda-vocal's integration tests: one binary.

mod g2p;
mod g2p_lts;
