//! coda-chat's tests: one binary.

mod planner;
