//! coda-singing's integration tests: one binary.

mod diffsinger;
mod chorales;
mod measure;
mod vowels;
