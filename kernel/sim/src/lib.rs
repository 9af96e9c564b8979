//! Deterministic simulator for the kernel core (see README of the crate).
