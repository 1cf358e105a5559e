//! Tests of coda-music: repeats.
