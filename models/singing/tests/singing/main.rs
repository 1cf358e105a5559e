//! coda-singing's integration tests: one binary.

mod chorales;
mod diffsinger;
mod measure;
mod vowels;
