//! Code shared by a source and a sink, kept below both so neither imports
//! from the other (as Vector's `src/common/`).

pub mod mqtt;
