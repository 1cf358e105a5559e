//! coda-theory's one test binary: key finding's behaviour, and the key acceptance against
//! music21 on the music21 corpus.

mod keys;
mod profiles;
