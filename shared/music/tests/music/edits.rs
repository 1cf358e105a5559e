//! Tests of coda-music: edits.
