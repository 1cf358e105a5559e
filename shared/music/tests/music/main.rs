//! coda-music's one test binary: each module tests one part of the crate.

mod corpus;
mod edits;
mod musicxml;
mod repeats;
