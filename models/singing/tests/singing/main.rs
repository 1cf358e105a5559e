//! coda-singing's integration tests: one binary.

mod chorales;
mod measure;
mod vowels;
