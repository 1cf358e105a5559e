//! Tests of coda-music: corpus.
