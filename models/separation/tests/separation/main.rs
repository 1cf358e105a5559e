//! The separators' integration tests, in one test binary (one per crate, as the project's rule is).

mod htdemucs;
mod quality;
